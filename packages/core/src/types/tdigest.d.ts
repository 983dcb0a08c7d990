declare module 'tdigest' {
  export class TDigest {
    constructor(delta?: number | false, K?: number, CX?: number);
    push(x: number | number[], n?: number): void;
    percentile(p: number): number | undefined;
    compress(): void;
    size(): number;
    reset(): void;
  }
}
