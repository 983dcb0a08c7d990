// Sliding-window quantiles for summaries in a single process (t-digest, as prom-client).
// Not used in multiprocess mode: the Python format has no way to merge quantiles.
import { TDigest } from 'tdigest';

export class TimeWindowQuantiles {
  private readonly ring: TDigest[];
  private current = 0;
  private lastRotation = Date.now();
  private readonly rotateEveryMs: number;

  constructor(maxAgeSeconds = 0, ageBuckets = 0) {
    const windowed = maxAgeSeconds > 0 && ageBuckets > 0;
    this.ring = Array.from({ length: windowed ? ageBuckets : 1 }, () => new TDigest());
    this.rotateEveryMs = windowed ? (maxAgeSeconds * 1000) / ageBuckets : Infinity;
  }

  push(value: number): void {
    this.rotate();
    for (const digest of this.ring) digest.push(value);
  }

  percentile(q: number): number {
    this.rotate();
    return this.ring[this.current].percentile(q) ?? 0;
  }

  size(): number {
    this.rotate();
    return this.ring[this.current].size();
  }

  compress(): void {
    for (const digest of this.ring) digest.compress();
  }

  reset(): void {
    for (const digest of this.ring) digest.reset();
  }

  private rotate(): void {
    let elapsed = Date.now() - this.lastRotation;
    while (elapsed > this.rotateEveryMs) {
      this.ring[this.current].reset();
      this.current = (this.current + 1) % this.ring.length;
      elapsed -= this.rotateEveryMs;
      this.lastRotation += this.rotateEveryMs;
    }
  }
}
