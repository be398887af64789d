/**
 * Resumable Kafka frame parser (INT32 size + body), used by both sides: the broker for requests, the client for
 * responses. Bytes arrive in arbitrary chunks; whole frames come out.
 *
 * The size prefix is checked against `frameBytesMax` before anything is kept, and a frame's bytes are held as the
 * chunks that arrived, never as a buffer sized by the peer's prefix: a client that announces 100 MiB and sends
 * 10 bytes holds 10 bytes. A frame inside one chunk comes out as a view of it. A frame split across chunks comes
 * out of `pushChunked` as the list of views of those chunks (zero-copy, chunked-bytes.ts: the broker's produce
 * path), and out of `push` joined into one Buffer (one copy, counted as `frameJoin`: for callers that want a
 * Buffer). A size prefix split across chunks is read byte by byte from the held pieces, without a join.
 */
import { joinChunks, type ChunkedBytes } from './chunked-bytes.js';

export class FrameTooLargeError extends Error {
  readonly code = 'ERR_FRAME_TOO_LARGE';
}

const SIZE_BYTES = 4;

export class FrameParser {
  /** Views of the chunks holding the incomplete size prefix or frame. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Size of the frame being read, or -1 while the size prefix is incomplete. */
  private frameBytes = -1;

  /** `frameBytesMin`: smallest legal frame (a response carries at least its 4-byte correlation id). */
  constructor(
    private readonly frameBytesMax: number,
    private readonly frameBytesMin = 0,
  ) {}

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.partBytes;
  }

  /** True when no partial frame (not even part of a size prefix) is held. */
  get idle(): boolean {
    return this.frameBytes < 0 && this.partBytes === 0;
  }

  /** Feeds a chunk; calls `onFrame` for each complete frame (without its size prefix) as one Buffer. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    this.pushChunked(chunk, (frame) => onFrame(joinChunks(frame, 'frameJoin')));
  }

  /**
   * Feeds a chunk; calls `onFrame` for each complete frame (without its size prefix): a Buffer view when the
   * frame lies in one chunk, else the list of views of the chunks it spans, in order (handed over: the parser
   * keeps no reference). Throws FrameTooLargeError on a size prefix outside the limits.
   */
  pushChunked(chunk: Buffer, onFrame: (frame: ChunkedBytes) => void): void {
    let buf = chunk;
    while (buf.length > 0) {
      if (this.frameBytes < 0) {
        if (this.partBytes === 0 && buf.length >= SIZE_BYTES) {
          this.frameBytes = this.checkSize(buf.readInt32BE(0));
          buf = buf.subarray(SIZE_BYTES);
        } else {
          const take = Math.min(SIZE_BYTES - this.partBytes, buf.length);
          this.parts.push(buf.subarray(0, take));
          this.partBytes += take;
          buf = buf.subarray(take);
          if (this.partBytes < SIZE_BYTES) return;
          this.frameBytes = this.checkSize(this.heldPrefix());
          this.parts = [];
          this.partBytes = 0;
        }
      }
      const need = this.frameBytes - this.partBytes;
      if (this.partBytes === 0 && buf.length >= need) {
        const frame = buf.subarray(0, need);
        buf = buf.subarray(need);
        this.frameBytes = -1;
        onFrame(frame);
        continue;
      }
      if (buf.length === 0) return; // the prefix ended the chunk
      const take = Math.min(need, buf.length);
      this.parts.push(buf.subarray(0, take));
      this.partBytes += take;
      buf = buf.subarray(take);
      if (this.partBytes === this.frameBytes) {
        const frame = this.parts;
        this.parts = [];
        this.partBytes = 0;
        this.frameBytes = -1;
        onFrame(frame);
      }
    }
  }

  /** The INT32 size prefix held in `parts` (exactly 4 bytes over up to 4 pieces). */
  private heldPrefix(): number {
    let v = 0;
    for (const p of this.parts) for (let i = 0; i < p.length; i++) v = (v << 8) | p[i]!;
    return v; // `|` keeps it a signed 32-bit value, as readInt32BE
  }

  private checkSize(size: number): number {
    if (size < this.frameBytesMin || size > this.frameBytesMax) {
      throw new FrameTooLargeError(`frame of ${size} bytes is outside ${this.frameBytesMin}..${this.frameBytesMax}`);
    }
    return size;
  }
}
