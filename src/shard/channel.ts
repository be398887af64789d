/**
 * A bounded single-producer single-consumer message ring over a SharedArrayBuffer: the cross-shard channel.
 *
 * One ring carries messages one way between two threads (a shard pair uses two). Messages are byte strings
 * framed as [u32 length][bytes], padded to 4 bytes; a message that does not fit before the end of the data area
 * is preceded by a wrap marker and written at offset 0, so every message is contiguous and the consumer hands
 * out views (the copy into the ring is the one time record bytes cross threads).
 *
 * Back-pressure: `trySend` returns false when the ring lacks space; `send` waits (Atomics.waitAsync) until the
 * consumer frees enough. Wake-ups are batched: the consumer announces it is going to sleep, and the producer
 * calls Atomics.notify only then, so a busy pair exchanges messages with no syscalls at all.
 *
 * A pending Atomics.waitAsync does not keep a thread's event loop alive: the owner (a shard, which has its
 * listener) must hold a handle while it waits.
 *
 * Indices are free-running unsigned 32-bit byte counters (write position `head`, read position `tail`); the
 * capacity is a power of two, so `head - tail` (mod 2^32) is the bytes in use.
 */

const HEAD = 0; // bytes written (producer-owned)
const TAIL = 1; // bytes consumed (consumer-owned)
const CONSUMER_SLEEPING = 2; // 1 while the consumer waits for data
const PRODUCER_WAITING = 3; // 1 while the producer waits for space
const CLOSED = 4; // 1 once either side closed the channel
const HEADER_INTS = 8; // padded to 32 bytes
const WRAP = 0xffffffff;
const LENGTH_BYTES = 4;

/** Smallest and largest ring capacity, bytes (a power of two). */
export const channelBytesMin = 1024;
export const channelBytesMax = 1 << 30;

/** Atomics.waitAsync (Node >= 16; typed in TypeScript's es2024 lib, newer than this project's target). */
type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t?: number): WaitAsyncResult }).waitAsync;

export class ChannelClosedError extends Error {
  readonly code = 'ERR_CHANNEL_CLOSED';
}

/** The shared memory of one ring: create on one thread, pass `buffer` to the other (postMessage/workerData). */
export function createChannelBuffer(capacityBytes: number): SharedArrayBuffer {
  if (!Number.isInteger(capacityBytes) || capacityBytes < channelBytesMin || capacityBytes > channelBytesMax || (capacityBytes & (capacityBytes - 1)) !== 0) {
    throw new RangeError(`channel capacity ${capacityBytes} must be a power of two in [${channelBytesMin}, ${channelBytesMax}]`);
  }
  return new SharedArrayBuffer(HEADER_INTS * 4 + capacityBytes);
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

class Ring {
  protected readonly ctl: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly view: DataView;
  readonly capacityBytes: number;
  protected readonly mask: number;

  constructor(buffer: SharedArrayBuffer) {
    this.ctl = new Int32Array(buffer, 0, HEADER_INTS);
    this.data = new Uint8Array(buffer, HEADER_INTS * 4);
    this.view = new DataView(buffer, HEADER_INTS * 4);
    this.capacityBytes = this.data.length;
    this.mask = this.capacityBytes - 1;
  }

  /** Bytes written and not yet consumed. */
  get usedBytes(): number {
    return (Atomics.load(this.ctl, HEAD) - Atomics.load(this.ctl, TAIL)) >>> 0;
  }

  get closed(): boolean {
    return Atomics.load(this.ctl, CLOSED) === 1;
  }

  /** Closes the channel for both sides and wakes whoever waits. */
  close(): void {
    Atomics.store(this.ctl, CLOSED, 1);
    Atomics.add(this.ctl, HEAD, 0);
    Atomics.notify(this.ctl, HEAD);
    Atomics.notify(this.ctl, TAIL);
  }
}

export class ChannelSender extends Ring {
  /** The largest message this ring can carry: a quarter of it, so several are always in flight. */
  readonly messageBytesMax: number;

  constructor(buffer: SharedArrayBuffer) {
    super(buffer);
    this.messageBytesMax = this.capacityBytes / 4 - LENGTH_BYTES;
  }

  /**
   * Writes one message made of `parts` (concatenated) if the ring has room; false otherwise (back-pressure).
   * Throws on a message over `messageBytesMax` or a closed channel.
   */
  trySend(parts: Uint8Array | readonly Uint8Array[]): boolean {
    if (this.closed) throw new ChannelClosedError('channel closed');
    const list = parts instanceof Uint8Array ? [parts] : parts;
    let length = 0;
    for (const p of list) length += p.length;
    if (length > this.messageBytesMax) throw new RangeError(`message of ${length} bytes over the channel's ${this.messageBytesMax}`);
    const need = LENGTH_BYTES + pad4(length);
    const head = Atomics.load(this.ctl, HEAD) >>> 0;
    const tail = Atomics.load(this.ctl, TAIL) >>> 0;
    const free = this.capacityBytes - ((head - tail) >>> 0);
    let at = head & this.mask;
    let skip = 0;
    if (at + need > this.capacityBytes) skip = this.capacityBytes - at; // wrap: the rest of the area is wasted
    if (need + skip > free) return false;
    if (skip > 0) {
      this.view.setUint32(at, WRAP, true);
      at = 0;
    }
    this.view.setUint32(at, length, true);
    let o = at + LENGTH_BYTES;
    for (const p of list) {
      this.data.set(p, o);
      o += p.length;
    }
    Atomics.store(this.ctl, HEAD, (head + skip + need) | 0);
    if (Atomics.load(this.ctl, CONSUMER_SLEEPING) === 1) Atomics.notify(this.ctl, HEAD);
    return true;
  }

  /** Sends, waiting for room while the ring is full (bounded by the consumer's pace). */
  async send(parts: Uint8Array | readonly Uint8Array[]): Promise<void> {
    while (!this.trySend(parts)) {
      const tail = Atomics.load(this.ctl, TAIL);
      Atomics.store(this.ctl, PRODUCER_WAITING, 1);
      // Re-check after announcing: the consumer may have freed space in between.
      if (this.trySend(parts)) break;
      const w = waitAsync(this.ctl, TAIL, tail);
      if (w.async) await w.value;
      if (this.closed) throw new ChannelClosedError('channel closed');
    }
    Atomics.store(this.ctl, PRODUCER_WAITING, 0);
  }
}

export class ChannelReceiver extends Ring {
  /**
   * Hands every message available now to `onMessage` (views into the ring, valid only during the call; copy what
   * must outlive it), then frees their space. Returns the number of messages.
   */
  drain(onMessage: (message: Uint8Array) => void, messagesMax = Infinity): number {
    let tail = Atomics.load(this.ctl, TAIL) >>> 0;
    const head = Atomics.load(this.ctl, HEAD) >>> 0;
    let n = 0;
    try {
      while (tail !== head && n < messagesMax) {
        let at = tail & this.mask;
        let length = this.view.getUint32(at, true);
        if (length === WRAP) {
          tail = (tail + (this.capacityBytes - at)) >>> 0;
          at = 0;
          length = this.view.getUint32(0, true);
        }
        const message = this.data.subarray(at + LENGTH_BYTES, at + LENGTH_BYTES + length);
        tail = (tail + LENGTH_BYTES + pad4(length)) >>> 0;
        n++;
        onMessage(message);
      }
    } finally {
      Atomics.store(this.ctl, TAIL, tail | 0);
      if (n > 0 && Atomics.load(this.ctl, PRODUCER_WAITING) === 1) Atomics.notify(this.ctl, TAIL);
    }
    return n;
  }

  /** Resolves when at least one message is available (at once if one is), or the channel closes. */
  async ready(): Promise<void> {
    for (;;) {
      const head = Atomics.load(this.ctl, HEAD);
      if (((head - Atomics.load(this.ctl, TAIL)) >>> 0) !== 0 || this.closed) return;
      Atomics.store(this.ctl, CONSUMER_SLEEPING, 1);
      try {
        // Re-check after announcing: the producer may have written in between.
        if (Atomics.load(this.ctl, HEAD) !== head) continue;
        const w = waitAsync(this.ctl, HEAD, head);
        if (w.async) await w.value;
      } finally {
        Atomics.store(this.ctl, CONSUMER_SLEEPING, 0);
      }
    }
  }

  /**
   * Runs until the channel closes: waits for messages and hands them out in batches. The returned promise
   * resolves when the channel is closed and drained.
   */
  async run(onMessage: (message: Uint8Array) => void): Promise<void> {
    for (;;) {
      await this.ready();
      const n = this.drain(onMessage);
      if (n === 0 && this.closed) return;
    }
  }
}
