/**
 * FrameParser: frames come out whole whatever the chunking, and a bad size prefix is refused before any byte
 * of the frame is kept.
 */
import { describe, expect, it } from 'vitest';
import { FrameParser, FrameTooLargeError } from '../../src/protocol/frame-parser.js';
import type { ChunkedBytes } from '../../src/protocol/chunked-bytes.js';
import { copyCounts, resetCopyCounts } from '../../src/protocol/copy-meter.js';

function frameOf(payload: Buffer): Buffer {
  const out = Buffer.alloc(4 + payload.length);
  out.writeInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

function pushAll(p: FrameParser, chunks: Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  for (const c of chunks) p.push(c, (f) => frames.push(Buffer.from(f)));
  return frames;
}

const payloads = [Buffer.from('first frame'), Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(300, 7), Buffer.from('last')];
const stream = Buffer.concat(payloads.map(frameOf));

describe('FrameParser', () => {
  it('returns every frame when the stream is split at any single byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const frames = pushAll(new FrameParser(1024), [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(frames, `cut at ${cut}`).toEqual(payloads);
    }
  });

  it('returns every frame when fed one byte at a time', () => {
    const p = new FrameParser(1024);
    const chunks = [...stream].map((b) => Buffer.from([b]));
    expect(pushAll(p, chunks)).toEqual(payloads);
    expect(p.bufferedBytes).toBe(0);
  });

  it('returns every frame for every pair of cut points (three chunks)', () => {
    const small = Buffer.concat([frameOf(Buffer.from('ab')), frameOf(Buffer.from('cde')), frameOf(Buffer.alloc(0)), frameOf(Buffer.from('f'))]);
    const expected = [Buffer.from('ab'), Buffer.from('cde'), Buffer.alloc(0), Buffer.from('f')];
    for (let i = 0; i <= small.length; i++) {
      for (let j = i; j <= small.length; j++) {
        const frames = pushAll(new FrameParser(64), [small.subarray(0, i), small.subarray(i, j), small.subarray(j)]);
        expect(frames, `cuts ${i},${j}`).toEqual(expected);
      }
    }
  });

  it('returns many frames from one chunk, as views of that chunk (no copy)', () => {
    const p = new FrameParser(1024);
    const many = Array.from({ length: 500 }, (_, i) => Buffer.from(`frame-${i}`));
    const chunk = Buffer.concat(many.map(frameOf));
    const frames: Buffer[] = [];
    p.push(chunk, (f) => frames.push(f));
    expect(frames.map((f) => f.toString())).toEqual(many.map((f) => f.toString()));
    expect(frames[10]!.buffer).toBe(chunk.buffer);
  });

  it('handles a size prefix split across chunks (1+3, 2+2, 3+1 bytes)', () => {
    const one = frameOf(Buffer.from('payload'));
    for (const at of [1, 2, 3]) {
      const frames = pushAll(new FrameParser(64), [one.subarray(0, at), one.subarray(at, 4), one.subarray(4)]);
      expect(frames).toEqual([Buffer.from('payload')]);
    }
  });

  it('emits a zero-length frame as an empty buffer', () => {
    const frames = pushAll(new FrameParser(64), [Buffer.from([0, 0, 0, 0])]);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.length).toBe(0);
  });

  it('accepts a frame of exactly frameBytesMax and rejects one byte more', () => {
    expect(pushAll(new FrameParser(10), [frameOf(Buffer.alloc(10))])).toHaveLength(1);
    expect(() => pushAll(new FrameParser(10), [frameOf(Buffer.alloc(11))])).toThrow(FrameTooLargeError);
  });

  it('rejects an oversize prefix as soon as the 4 prefix bytes are in, before the body arrives', () => {
    const p = new FrameParser(1024 * 1024);
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE(0x7fffffff, 0);
    // Only the prefix is pushed: the parser must refuse now, not wait for (or allocate) 2 GiB.
    expect(() => p.push(prefix, () => undefined)).toThrow(FrameTooLargeError);
  });

  it('rejects an oversize prefix that arrives split across chunks', () => {
    const p = new FrameParser(100);
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE(101, 0);
    p.push(prefix.subarray(0, 2), () => undefined);
    expect(() => p.push(prefix.subarray(2), () => undefined)).toThrow(FrameTooLargeError);
  });

  it('rejects a negative size prefix', () => {
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE(-1, 0);
    expect(() => new FrameParser(100).push(prefix, () => undefined)).toThrow(/outside/);
    prefix.writeInt32BE(-2147483648, 0);
    expect(() => new FrameParser(100).push(prefix, () => undefined)).toThrow(FrameTooLargeError);
  });

  it('holds only the bytes received for a frame announced as large (no allocation by the prefix)', () => {
    const p = new FrameParser(64 * 1024 * 1024);
    const head = Buffer.alloc(4 + 10);
    head.writeInt32BE(50 * 1024 * 1024, 0);
    let frames = 0;
    p.push(head, () => frames++);
    expect(frames).toBe(0);
    expect(p.bufferedBytes).toBe(10);
  });

  it('refuses a frame below frameBytesMin (a response must carry its correlation id) and reports idle', () => {
    const p = new FrameParser(1024, 4);
    expect(p.idle).toBe(true);
    expect(() => p.push(Buffer.from([0, 0, 0, 3, 1, 2, 3]), () => undefined)).toThrow(FrameTooLargeError);
    const q = new FrameParser(1024, 4);
    q.push(Buffer.from([0, 0]), () => undefined);
    expect(q.idle).toBe(false);
    const got: number[] = [];
    q.push(Buffer.from([0, 4, 9, 9, 9, 9]), (f) => got.push(f.length));
    expect(got).toEqual([4]);
    expect(q.idle).toBe(true);
  });
});

describe('FrameParser.pushChunked (zero-copy: a split frame is the list of views of its chunks)', () => {
  /** Frames as delivered, plus their bytes joined by the test (not by the parser). */
  function pushAllChunked(p: FrameParser, chunks: Buffer[]): { frames: ChunkedBytes[]; joined: Buffer[] } {
    const frames: ChunkedBytes[] = [];
    for (const c of chunks) p.pushChunked(c, (f) => frames.push(f));
    return { frames, joined: frames.map((f) => (Buffer.isBuffer(f) ? f : Buffer.concat(f as Buffer[]))) };
  }
  /** Every byte of every frame lies in one of `chunks` (views only). */
  function allViewsOf(frames: ChunkedBytes[], chunks: Buffer[]): boolean {
    const owners = new Set(chunks.map((c) => c.buffer));
    return frames.every((f) => (Buffer.isBuffer(f) ? [f] : (f as Buffer[])).every((v) => v.length === 0 || owners.has(v.buffer)));
  }
  /** Chunks copied out of the stream, each its own memory, as socket reads are. */
  const own = (parts: Buffer[]): Buffer[] => parts.map((c) => Buffer.from(c));

  it('returns every frame as views of the chunks, for any cut point (frames straddling 1 or 2 chunks)', () => {
    resetCopyCounts();
    for (let cut = 0; cut <= stream.length; cut++) {
      const chunks = own([stream.subarray(0, cut), stream.subarray(cut)]);
      const { frames, joined } = pushAllChunked(new FrameParser(1024), chunks);
      expect(joined, `cut at ${cut}`).toEqual(payloads);
      expect(allViewsOf(frames, chunks)).toBe(true);
    }
    expect(copyCounts().frameJoin.count).toBe(0);
  });

  it('1-byte chunks: each frame is a list of its 1-byte views, the size prefix read from 4 pieces', () => {
    const chunks = own([...stream].map((b) => Buffer.from([b])));
    const p = new FrameParser(1024);
    const { frames, joined } = pushAllChunked(p, chunks);
    expect(joined).toEqual(payloads);
    expect(allViewsOf(frames, chunks)).toBe(true);
    const big = frames[3] as Buffer[];
    expect(big).toHaveLength(300);
    expect(p.bufferedBytes).toBe(0);
    expect(p.idle).toBe(true);
  });

  it('a frame over many chunks (random 1..64 byte chunks) keeps exact piece boundaries; bufferedBytes counts what is held', () => {
    const body = Buffer.alloc(5000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    const wire = Buffer.concat([frameOf(body), frameOf(Buffer.from('tail'))]);
    let seed = 99;
    const next = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % 64) + 1;
    const chunks: Buffer[] = [];
    for (let p = 0; p < wire.length; ) {
      const n = next();
      chunks.push(Buffer.from(wire.subarray(p, p + n)));
      p += n;
    }
    const p = new FrameParser(1 << 20);
    const frames: ChunkedBytes[] = [];
    let fed = 0;
    for (const c of chunks) {
      p.pushChunked(c, (f) => frames.push(f));
      fed += c.length;
      if (frames.length === 0) expect(p.bufferedBytes).toBe(fed < 4 ? fed : fed - 4);
    }
    expect(frames.map((f) => (Buffer.isBuffer(f) ? f : Buffer.concat(f as Buffer[])))).toEqual([body, Buffer.from('tail')]);
    expect(allViewsOf(frames, chunks)).toBe(true);
    expect((frames[0] as Buffer[]).length).toBeGreaterThan(100);
  });

  it('reads a size prefix split 1+3, 2+2, 3+1 and 1+1+1+1 without joining it', () => {
    const one = frameOf(Buffer.from('payload'));
    for (const cuts of [[1], [2], [3], [1, 2, 3]]) {
      const bounds = [0, ...cuts, 4, one.length];
      const chunks = own(bounds.slice(0, -1).map((b, i) => one.subarray(b, bounds[i + 1])));
      const { joined } = pushAllChunked(new FrameParser(64), chunks);
      expect(joined, `cuts ${cuts.join(',')}`).toEqual([Buffer.from('payload')]);
    }
    // A negative prefix split over pieces is still a signed INT32.
    const neg = Buffer.alloc(4);
    neg.writeInt32BE(-2, 0);
    expect(() => pushAllChunked(new FrameParser(64), [neg.subarray(0, 1), neg.subarray(1)])).toThrow(/-2 bytes/);
  });

  it('holds only what arrived of a frame announced as large, as views (no allocation by the prefix)', () => {
    const p = new FrameParser(64 * 1024 * 1024);
    const head = Buffer.alloc(4 + 10);
    head.writeInt32BE(50 * 1024 * 1024, 0);
    p.pushChunked(head, () => undefined);
    p.pushChunked(Buffer.alloc(7), () => undefined);
    expect(p.bufferedBytes).toBe(17);
  });

  it('push() joins a split frame for callers that want one Buffer, and the meter counts that copy', () => {
    resetCopyCounts();
    const frames = pushAll(new FrameParser(1024), [stream.subarray(0, 100), stream.subarray(100)]);
    expect(frames).toEqual(payloads);
    expect(copyCounts().frameJoin.count).toBe(1);
  });
});
