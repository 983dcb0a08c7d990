// The server's gzip of successive scrapes (serve/gzip-parts.ts): parts whose bytes are the
// same as in the previous body keep their compressed bytes. Whatever is reused, the
// response must decompress to exactly this scrape's body.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Collector, startMetricsServer, type MetricsServer } from '../src/index.js';
import { GzipParts } from '../src/serve/gzip-parts.js';
import type { BodyChanges } from '../src/collect/exposition-cache.js';
import { encodeKey } from '../src/format/key.js';
import { MappedFile } from '../src/format/mapped-file.js';
import { flushWrites, tempDir } from './helpers/fixtures.js';

const dirs: string[] = [];
const servers: MetricsServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Offsets after every `n`th line: where the renderer would let a part end. */
function lineEnds(body: Buffer, n: number): number[] {
  const ends: number[] = [];
  let lines = 0;
  for (let i = 0; i < body.length; i++) if (body[i] === 0x0a && ++lines % n === 0) ends.push(i + 1);
  return ends;
}

/** A renderer's account of its outputs, made by comparing each body with the one before at the same offsets. */
class ComparedBodies implements BodyChanges {
  renders = 0;
  private previous = Buffer.alloc(0);
  private body = Buffer.alloc(0);

  next(body: Buffer): this {
    this.previous = this.body;
    this.body = Buffer.from(body);
    this.renders++;
    return this;
  }

  unchanged(from: number, end: number): boolean {
    return end <= this.previous.length && this.previous.compare(this.body, from, end, from, end) === 0;
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('GzipParts', () => {
  it('decompresses to each body, while parts change in place, change length, move and repeat their first line', () => {
    const gzip = new GzipParts();
    const bodies = new ComparedBodies();
    const deflates = vi.spyOn(zlib, 'deflateRawSync');
    const lines = Array.from({ length: 500 }, (_, i) => `m{i="${i}"} ${i}.0\n`);
    const check = (text: string, every = 7) => {
      const body = Buffer.from(text, 'utf8');
      deflates.mockClear();
      const compressed = gzip.compress(body, lineEnds(body, every), bodies.next(body));
      expect(zlib.gunzipSync(compressed).equals(body)).toBe(true);
      return deflates.mock.calls.length;
    };
    const parts = check(lines.join(''));
    expect(parts).toBeGreaterThan(50);
    expect(check(lines.join(''))).toBe(0); // the same body: every part reused
    lines[3] = 'm{i="3"} 4.0\n'; // same length, other byte: its part and those whose dictionary holds it
    const changed = check(lines.join(''));
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBeLessThan(parts);
    lines[100] = 'm{i="100"} 12345.0\n'; // longer: every later part moves
    check(lines.join(''));
    lines.splice(50, 1); // a line gone: parts hold other lines from there on
    check(lines.join(''));
    // Parts whose first line is the same but whose other lines differ.
    const same = Array.from({ length: 70 }, (_, i) => (i % 7 === 0 ? 'same 1.0\n' : `x{i="${i}"} ${i}.0\n`));
    check(same.join(''));
    same[8] = 'x{i="8"} 9.0\n';
    check(same.join(''));
    check('');
    check('# HELP a b\n# TYPE a gauge\na 1.0\n', 1);
    check('no newline at the end', 1);
    check('ünïcödé 😀\n'.repeat(300), 13);
  });

  it('reuses no part unless the body is the next output of the renderer of the body before', () => {
    const gzip = new GzipParts();
    const lines = Array.from({ length: 300 }, (_, i) => `m{i="${i}"} ${i}.0\n`);
    /** A renderer that says nothing changed, whatever it rendered. */
    const claims = (renders: number): BodyChanges => ({ renders, unchanged: () => true });
    const compress = (changes: BodyChanges | undefined) => {
      const body = Buffer.from(lines.join(''), 'utf8');
      expect(zlib.gunzipSync(gzip.compress(body, lineEnds(body, 5), changes)).equals(body)).toBe(true);
    };
    const renderer = claims(1);
    compress(renderer);
    // A render in between that this gzip did not see: its claim is about that output.
    lines[10] = 'm{i="10"} 99.0\n';
    (renderer as { renders: number }).renders = 3;
    compress(renderer);
    // Another renderer whose count happens to follow.
    lines[20] = 'm{i="20"} 99.0\n';
    compress(claims(4));
    // No account at all.
    lines[30] = 'm{i="30"} 99.0\n';
    compress(undefined);
  });

  it('keeps each part\'s compressed bytes in memory of their own size, not in zlib\'s 16 KiB output buffer', () => {
    const gzip = new GzipParts();
    const body = Buffer.from(Array.from({ length: 2_000 }, (_, i) => `m{i="${i}"} ${i}.0\n`).join(''), 'utf8');
    gzip.compress(body, lineEnds(body, 100));
    const parts = [...(gzip as unknown as { parts: Map<number, { deflated: Buffer }> }).parts.values()];
    expect(parts.length).toBe(20);
    for (const { deflated } of parts) expect(deflated.buffer.byteLength).toBe(deflated.length);
  });

  it('makes one gzip member that gunzip, and Python-like readers, accept', () => {
    const gzip = new GzipParts();
    const body = Buffer.from('a 1.0\n'.repeat(20_000), 'utf8');
    const compressed = gzip.compress(body, lineEnds(body, 256));
    expect(compressed.subarray(0, 3)).toEqual(Buffer.from([0x1f, 0x8b, 0x08]));
    // One member: the CRC-32 and length in its trailer are those of the whole body.
    expect(compressed.readUInt32LE(compressed.length - 4)).toBe(body.length);
    expect(compressed.readUInt32LE(compressed.length - 8)).toBe(zlib.crc32(body) >>> 0);
    expect(zlib.gunzipSync(compressed).equals(body)).toBe(true);
  });
});

function get(url: string, headers: Record<string, string>): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('the metrics server with gzip', () => {
  it('serves every scrape\'s current values, compressed, while values and series change', async () => {
    const dir = tempDir('gzip-parts-');
    dirs.push(dir);
    const file = MappedFile.open(path.join(dir, 'counter_1.db'));
    const slots = Array.from({ length: 2_000 }, (_, i) => file.slotFor(encodeKey('req', 'req_total', [['i', String(i)]], 'Requests.')));
    const collector = new Collector({ directory: dir, log: () => {} });
    const server = await startMetricsServer({ collector, port: 0, log: () => {} });
    servers.push(server);
    const merged = (body: string) => body.slice(0, body.indexOf('# HELP prom_multiproc_'));
    try {
      for (let step = 0; step < 6; step++) {
        for (let i = step; i < slots.length; i += 97) file.values[slots[i]] = step * 1000 + i;
        if (step === 3) slots.push(file.slotFor(encodeKey('req', 'req_total', [['i', 'new']], 'Requests.')));
        flushWrites();
        for (const accept of ['text/plain', 'application/openmetrics-text; version=1.0.0']) {
          const res = await get(server.url, { 'Accept-Encoding': 'gzip', Accept: accept });
          expect(res.headers['content-encoding']).toBe('gzip');
          expect(Number(res.headers['content-length'])).toBe(res.body.length);
          const text = zlib.gunzipSync(res.body).toString('utf8');
          const fresh = await new Collector({ directory: dir, log: () => {} }).scrape(accept === 'text/plain' ? 'text' : 'openmetrics');
          expect(merged(text)).toBe(merged(fresh.body));
          expect(text).toContain(`req_total{i="${step}"} ${step * 1000 + step}.0\n`);
        }
      }
    } finally {
      file.close();
    }
  });
});
