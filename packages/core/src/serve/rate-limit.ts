// exporter-toolkit's rate_limit: a token bucket of `burst` tokens, one added back every
// `interval` (Go's rate.NewLimiter(rate.Every(interval), burst)). A request finding the
// bucket empty gets 429; a scraper is far below any sensible limit.
export class RateLimit {
  private tokens: number;
  private last = process.hrtime.bigint();

  constructor(private readonly burst: number, private readonly intervalMs: number) {
    this.tokens = burst;
  }

  allow(): boolean {
    const now = process.hrtime.bigint();
    const elapsedMs = Number(now - this.last) / 1e6;
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + elapsedMs / this.intervalMs);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("500ms", "1m30s") in milliseconds, or undefined if it is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return text === '0' ? 0 : undefined;
  let ms = 0;
  for (const [, n, , unit] of text.matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}
