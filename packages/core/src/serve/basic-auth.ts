// Basic auth against bcrypt hashes (the web config's basic_auth_users). bcrypt costs tens
// of milliseconds on purpose; a scraper sends the same credentials every few seconds, so
// a verified credential is remembered as a SHA-256 digest and later requests compare
// digests in constant time. Wrong credentials are remembered too (a bounded set), so a
// misconfigured scraper does not burn a CPU, and bcrypt runs one at a time.
import crypto from 'node:crypto';
import bcrypt from 'bcryptjs';

/** A bcrypt hash of a random string, made for prom-multiproc: unknown users pay the same cost as known ones. */
const UNKNOWN_USER_HASH = '$2b$10$aDDipjg9ysV238zN5.8qVODKB9IoOBZCny5qc1qx30pB9ESa6rpQO';
const REMEMBERED_FAILURES = 100;

export type AuthOutcome = 'ok' | 'missing' | 'wrong';

export class BasicAuth {
  /** user -> digest of (user, hash, password) that bcrypt accepted. */
  private readonly verified = new Map<string, Buffer>();
  /** digests that bcrypt refused, oldest first. */
  private readonly refused = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly users: ReadonlyMap<string, string>) {}

  get enabled(): boolean {
    return this.users.size > 0;
  }

  async check(authorization: string | undefined): Promise<AuthOutcome> {
    const credentials = parseBasic(authorization);
    if (!credentials) return 'missing';
    const { user, password } = credentials;
    const known = this.users.get(user);
    const hash = known ?? UNKNOWN_USER_HASH;
    const digest = crypto.createHash('sha256').update(user).update('\0').update(hash).update('\0').update(password).digest();
    const remembered = this.verified.get(user);
    if (remembered && crypto.timingSafeEqual(remembered, digest)) return 'ok';
    const key = digest.toString('base64');
    if (this.refused.has(key)) return 'wrong';
    const matches = await this.oneAtATime(() => bcrypt.compare(password, hash));
    if (matches && known !== undefined) {
      this.verified.set(user, digest);
      return 'ok';
    }
    this.refused.add(key);
    if (this.refused.size > REMEMBERED_FAILURES) this.refused.delete(this.refused.values().next().value!);
    return 'wrong';
  }

  private oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => {});
    return run;
  }
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (!header) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/]+=*)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
