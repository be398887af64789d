/**
 * Calls between two shards over a pair of SharedArrayBuffer rings (channel.ts): one ring each way. A call is a
 * request (operation name, JSON arguments, raw byte payloads) answered by a response with the same id.
 *
 * Frame (little-endian), one ring message:
 *   u8 kind | u8 0 | u16 0 | u32 id | u32 jsonBytes | u32 payloads | u32 payloadBytes[payloads] | json | payloads
 * A frame larger than the ring's message limit is cut into FRAGMENT messages (u8 kind | u32 total | bytes)
 * sent back to back; since one thread writes a ring through one ordered outbox, fragments never interleave.
 *
 * Record bytes cross once: written into the ring by the sender, copied out into one buffer by the receiver (a
 * ring slot is reused as soon as it is read, and the log and the batch cache keep what they are given).
 *
 * Back-pressure: frames wait in an ordered outbox while the ring is full; past `outboxBytesMax` a call fails at
 * once (the caller answers a retriable error) instead of queueing without bound.
 */
import { ChannelReceiver, ChannelSender } from './channel.js';

const REQUEST = 1;
const RESPONSE = 2;
const FRAGMENT = 3;
const HEADER_BYTES = 16;
const FRAGMENT_HEADER_BYTES = 8;

export interface RpcMessage {
  args: unknown;
  payloads: Buffer[];
}

export type RpcServe = (op: string, args: unknown, payloads: Buffer[]) => Promise<{ result: unknown; payloads?: readonly Buffer[] }>;

/** A call that could not be made or answered: the peer is down, restarting, or its outbox is full. */
export class ShardUnavailableError extends Error {
  readonly code = 'SHARD_UNAVAILABLE';
}

interface Pending {
  resolve(m: RpcMessage): void;
  reject(err: Error): void;
}

function encode(kind: number, id: number, json: unknown, payloads: readonly Buffer[]): Buffer[] {
  const text = Buffer.from(JSON.stringify(json ?? null));
  const head = Buffer.allocUnsafe(HEADER_BYTES + 4 * payloads.length);
  head.writeUInt32LE(kind, 0);
  head.writeUInt32LE(id, 4);
  head.writeUInt32LE(text.length, 8);
  head.writeUInt32LE(payloads.length, 12);
  payloads.forEach((p, i) => head.writeUInt32LE(p.length, HEADER_BYTES + 4 * i));
  return [head, text, ...payloads];
}

export class ShardLink {
  readonly #tx: ChannelSender;
  readonly #rx: ChannelReceiver;
  readonly #serve: RpcServe;
  readonly #outboxBytesMax: number;
  readonly #pending = new Map<number, Pending>();
  readonly #outbox: Buffer[][] = [];
  #outboxBytes = 0;
  #pumping = false;
  #nextId = 1;
  #closed: Error | null = null;
  /** A fragmented frame being reassembled. */
  #assembling: { buf: Buffer; at: number } | null = null;
  /** Resolves when the receive loop ends. */
  readonly done: Promise<void>;
  /** Counters: calls made to the peer, calls served for it, frames that had to be fragmented. */
  readonly stats = { callsSent: 0, callsServed: 0, fragmented: 0 };

  constructor(readonly peer: number, tx: SharedArrayBuffer, rx: SharedArrayBuffer, serve: RpcServe, opts: { outboxBytesMax: number }) {
    this.#tx = new ChannelSender(tx);
    this.#rx = new ChannelReceiver(rx);
    this.#serve = serve;
    this.#outboxBytesMax = opts.outboxBytesMax;
    this.done = this.#rx.run((m) => this.#receive(m)).catch((err: unknown) => this.close(err as Error));
  }

  get closed(): boolean {
    return this.#closed !== null;
  }

  /** Calls `op` on the peer; resolves with its result and payloads (owned copies). */
  call(op: string, args: unknown, payloads: readonly Buffer[] = []): Promise<RpcMessage> {
    if (this.#closed) return Promise.reject(new ShardUnavailableError(`shard ${this.peer} is unavailable: ${this.#closed.message}`));
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0 || 1;
    this.stats.callsSent++;
    return new Promise<RpcMessage>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (!this.#send(encode(REQUEST, id, { op, args }, payloads))) {
        this.#pending.delete(id);
        reject(new ShardUnavailableError(`shard ${this.peer}: ${this.#outboxBytes} bytes queued for it, over ${this.#outboxBytesMax}`));
      }
    });
  }

  /** Fails every call in flight and stops both rings (the peer died or is being replaced). */
  close(why: Error = new Error('closed')): void {
    if (this.#closed) return;
    this.#closed = why;
    this.#tx.close();
    this.#rx.close();
    this.#outbox.length = 0;
    this.#outboxBytes = 0;
    const err = new ShardUnavailableError(`shard ${this.peer} is unavailable: ${why.message}`);
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  /**
   * Queues a frame (fragmenting it when needed); false when the outbox is over its limit. Responses are always
   * queued (`always`): they are bounded by the requests that asked for them, and dropping one would hang a call.
   */
  #send(parts: Buffer[], always = false): boolean {
    if (this.#closed) return false;
    let length = 0;
    for (const p of parts) length += p.length;
    const max = this.#tx.messageBytesMax;
    let frames: Buffer[][];
    if (length <= max) frames = [parts];
    else {
      // Rare (a frame over a quarter of the ring): join once, then cut.
      this.stats.fragmented++;
      const whole = Buffer.concat(parts, length);
      const room = max - FRAGMENT_HEADER_BYTES;
      frames = [];
      for (let at = 0; at < length; at += room) {
        const h = Buffer.allocUnsafe(FRAGMENT_HEADER_BYTES);
        h.writeUInt32LE(FRAGMENT, 0);
        h.writeUInt32LE(length, 4);
        frames.push([h, whole.subarray(at, Math.min(length, at + room))]);
      }
    }
    if (this.#outbox.length === 0 && !this.#pumping) {
      while (frames.length > 0 && this.#tx.trySend(frames[0]!)) frames.shift();
      if (frames.length === 0) return true;
    }
    if (!always && this.#outboxBytes + length > this.#outboxBytesMax && this.#outbox.length > 0) return false;
    for (const f of frames) {
      this.#outbox.push(f);
      for (const p of f) this.#outboxBytes += p.length;
    }
    if (!this.#pumping) void this.#pump();
    return true;
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#outbox.length > 0 && !this.#closed) {
        const f = this.#outbox[0]!;
        await this.#tx.send(f);
        this.#outbox.shift();
        for (const p of f) this.#outboxBytes -= p.length;
      }
    } catch (err) {
      this.close(err as Error);
    } finally {
      this.#pumping = false;
    }
  }

  #receive(m: Uint8Array): void {
    const view = Buffer.from(m.buffer, m.byteOffset, m.length);
    const kind = view.readUInt32LE(0);
    if (kind === FRAGMENT) {
      const total = view.readUInt32LE(4);
      const a = (this.#assembling ??= { buf: Buffer.allocUnsafe(total), at: 0 });
      view.copy(a.buf, a.at, FRAGMENT_HEADER_BYTES);
      a.at += view.length - FRAGMENT_HEADER_BYTES;
      if (a.at < total) return;
      this.#assembling = null;
      this.#frame(a.buf, false);
      return;
    }
    this.#frame(view, true);
  }

  /** `view`: a ring view (copy what outlives this call) unless `transient` is false. */
  #frame(view: Buffer, transient: boolean): void {
    const kind = view.readUInt32LE(0);
    const id = view.readUInt32LE(4);
    const jsonBytes = view.readUInt32LE(8);
    const count = view.readUInt32LE(12);
    let at = HEADER_BYTES + 4 * count;
    const json = JSON.parse(view.toString('utf8', at, at + jsonBytes)) as unknown;
    at += jsonBytes;
    let payloadBytes = 0;
    for (let i = 0; i < count; i++) payloadBytes += view.readUInt32LE(HEADER_BYTES + 4 * i);
    // One copy of every payload out of the ring, into one buffer.
    const body = transient ? Buffer.allocUnsafe(payloadBytes) : view.subarray(at, at + payloadBytes);
    if (transient) view.copy(body, 0, at, at + payloadBytes);
    const payloads: Buffer[] = [];
    let o = 0;
    for (let i = 0; i < count; i++) {
      const n = view.readUInt32LE(HEADER_BYTES + 4 * i);
      payloads.push(body.subarray(o, o + n));
      o += n;
    }
    if (kind === RESPONSE) {
      const p = this.#pending.get(id);
      if (!p) return; // the caller gave up (a long poll it no longer waits for)
      this.#pending.delete(id);
      const r = json as { ok: boolean; result?: unknown; error?: string };
      if (r.ok) p.resolve({ args: r.result, payloads });
      else p.reject(new Error(r.error ?? 'remote call failed'));
      return;
    }
    if (kind !== REQUEST) {
      this.close(new Error(`bad frame kind ${kind} from shard ${this.peer}`));
      return;
    }
    const { op, args } = json as { op: string; args: unknown };
    this.stats.callsServed++;
    this.#serve(op, args, payloads).then(
      (r) => this.#send(encode(RESPONSE, id, { ok: true, result: r.result }, r.payloads ?? []), true),
      (err: unknown) => this.#send(encode(RESPONSE, id, { ok: false, error: (err as Error).message }, []), true),
    );
  }
}
