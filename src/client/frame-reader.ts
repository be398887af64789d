/**
 * Resumable parser of Kafka response frames (INT32 size + body) from socket chunks, driven by a two-state
 * machine (size, body) so a frame may be split anywhere across chunks.
 *
 * Copies only when a frame is split: a frame wholly inside one chunk is handed out as a view of the chunk
 * (Node gives every 'data' event a fresh buffer, so views stay valid). A split frame is gathered into one
 * buffer allocated from the size prefix, which is checked against `frameBytesMax` BEFORE allocating, so a peer
 * can never make us allocate more than the cap.
 */

/** A response frame must at least carry its correlation id. */
const FRAME_BYTES_MIN = 4;
const SIZE_BYTES = 4;

export class FrameSizeError extends Error {
  constructor(readonly size: number, readonly frameBytesMax: number) {
    super(size < FRAME_BYTES_MIN ? `response frame of ${size} bytes is too short` : `response frame of ${size} bytes exceeds frameBytesMax (${frameBytesMax})`);
  }
}

const enum State {
  Size,
  Body,
}

export class FrameReader {
  private state = State.Size;
  /** Size prefix bytes gathered so far when the prefix itself was split. */
  private readonly sizeBytes = Buffer.alloc(SIZE_BYTES);
  private sizeHave = 0;
  private body: Buffer | null = null;
  private bodyHave = 0;

  constructor(
    private readonly frameBytesMax: number,
    private readonly onFrame: (frame: Buffer) => void,
  ) {}

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.state === State.Size && this.sizeHave === 0;
  }

  /** Consumes a chunk, calling onFrame for each complete frame. Throws FrameSizeError on a bad size. */
  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.state === State.Size) {
        let size: number;
        if (this.sizeHave === 0 && end - pos >= SIZE_BYTES) {
          size = chunk.readInt32BE(pos);
          pos += SIZE_BYTES;
        } else {
          const n = Math.min(SIZE_BYTES - this.sizeHave, end - pos);
          chunk.copy(this.sizeBytes, this.sizeHave, pos, pos + n);
          this.sizeHave += n;
          pos += n;
          if (this.sizeHave < SIZE_BYTES) return;
          size = this.sizeBytes.readInt32BE(0);
          this.sizeHave = 0;
        }
        if (size < FRAME_BYTES_MIN || size > this.frameBytesMax) throw new FrameSizeError(size, this.frameBytesMax);
        if (end - pos >= size) {
          // Whole frame in this chunk: hand out a view, no copy.
          const frame = chunk.subarray(pos, pos + size);
          pos += size;
          this.onFrame(frame);
          continue;
        }
        this.body = Buffer.allocUnsafe(size);
        this.bodyHave = 0;
        this.state = State.Body;
      }
      const body = this.body!;
      const n = Math.min(body.length - this.bodyHave, end - pos);
      chunk.copy(body, this.bodyHave, pos, pos + n);
      this.bodyHave += n;
      pos += n;
      if (this.bodyHave === body.length) {
        this.body = null;
        this.state = State.Size;
        this.onFrame(body);
      }
    }
  }
}
