/**
 * Calls between two shards over a pair of SharedArrayBuffer rings (channel.ts): one ring each way. A call is a
 * request (operation name, JSON arguments, raw byte payloads) answered by a response with the same id.
 *
 * Frame (little-endian), one ring message:
 *   u32 kind | u32 id | u32 jsonBytes | u32 payloads | u32 payloadBytes[payloads] | json | payloads | u32 ids[shared]
 * A frame larger than the ring's message limit goes as FRAGMENT messages (u32 kind | u32 total | bytes), cut
 * from the frame's pieces as they are sent (never joined); one ordered outbox per ring, so fragments of one frame
 * are consecutive.
 *
 * Shared payloads: a payload whose memory may be handed over by reference (share.ts: socket reads, imports) does
 * not cross the ring: its payloadBytes has the SHARED bit set, its bytes are left out of
 * the frame, and an id in the trailing `ids` list (one per shared payload, in order) names it; the receiver takes
 * it as a Buffer over the same memory (native/share.cc). No copy on either side. An id the receiver cannot take
 * (the sender is gone) fails that call.
 *
 * Other record bytes cross once: written into the ring by the sender, copied out into one buffer by the receiver
 * (a ring slot is reused as soon as it is read, and the log and the batch cache keep what they are given).
 *
 * Bulk answers: a call made with `{ bulk: true }` (a Fetch's read) may be answered by a BULK_RESPONSE, whose
 * payloads lie in the responder's bulk arena (bulk.ts) instead of the ring: read into runs the handler reserved
 * (`ServeContext.reserve`, no copy), or copied into one more run. The caller gets views of the arena, no copy,
 * and a `release` it must call once, when it is done with them (the connection calls it when the socket has
 * taken the bytes). After the frame's JSON a BULK_RESPONSE names its runs and where each payload starts (0 for a
 * shared payload), then the shared payloads' ids:
 *   u32 runs | (u32 start, u32 count)[runs] | u32 byteOffset[payloads] | u32 ids[shared]
 * Releases go back as RELEASE frames, batched per turn of the event loop:
 *   u32 kind | u32 runs | (u32 start, u32 count)[runs]
 * Answers smaller than `BULK_PAYLOAD_BYTES_MIN` with nothing read into the arena, and answers the arena has no
 * room for, go through the ring (runs reserved for them are freed at once).
 *
 * Back-pressure: a frame that does not fit waits in the outbox, in order, until the peer frees ring space; the
 * call's caller (a request handler) waits with it, so its connection keeps the request in flight and stops
 * reading at its in-flight limit. The outbox holds references to bytes those requests already hold (no copy),
 * so its memory is bounded by the connections' limits, not by the ring.
 */
import { ChannelReceiver, ChannelSender } from './channel.js';
import { BULK_BLOCK_BYTES, BulkReader, BulkWriter, type BulkRun } from './bulk.js';
import { countCopy } from '../protocol/copy-meter.js';
import { enableShareMarks, isShareable, markShareable, shareBinding, type ShareBinding } from '../io/share.js';

const REQUEST = 1;
const RESPONSE = 2;
const FRAGMENT = 3;
const BULK_RESPONSE = 4;
const RELEASE = 5;
/** Smaller answers go through the ring: two small copies cost less than a release round trip. */
export const BULK_PAYLOAD_BYTES_MIN = 16 * 1024;
const HEADER_BYTES = 16;
/** payloadBytes bit: the payload travels by reference (an id at the frame's end), not in the frame. */
const SHARED = 0x80000000;
const FRAGMENT_HEADER_BYTES = 8;

export interface RpcMessage {
  args: unknown;
  payloads: Buffer[];
  /**
   * Present when `payloads` are views of the peer's bulk arena: call it once when they are no longer used (until
   * then the peer does not reuse that memory). Calling it again does nothing.
   */
  release?: () => void;
}

/** The shared memory of a link's two bulk arenas: `tx` this side writes answers into, `rx` the peer's. */
export interface BulkBuffers {
  tx: SharedArrayBuffer;
  rx: SharedArrayBuffer;
}

/** What a handler may use while serving one call. */
export interface ServeContext {
  /**
   * Present when the caller asked for a bulk answer: memory of the arena, `bytes` long, for the handler to read
   * answer payloads into (its reads return views of it); null when the arena has no room. Runs the answer does
   * not use are freed when it is sent; the whole call may reserve at most half the arena.
   */
  reserve?: (bytes: number) => Uint8Array | null;
}

export type RpcServe = (op: string, args: unknown, payloads: Buffer[], ctx: ServeContext) => Promise<{ result: unknown; payloads?: readonly Buffer[] }>;

/** A call that could not be made or answered: the peer is down or restarting. */
export class ShardUnavailableError extends Error {
  readonly code = 'SHARD_UNAVAILABLE';
}

interface Pending {
  resolve(m: RpcMessage): void;
  reject(err: Error): void;
}

/**
 * A frame's parts: header, JSON, then the payloads that are not shared (`ids[i]` 0, or no `ids`). The shared
 * payloads' ids (`idList`) go last, after anything the caller adds.
 */
function encode(kind: number, id: number, json: unknown, payloads: readonly Buffer[], ids: Uint32Array | null = null): Buffer[] {
  const text = Buffer.from(JSON.stringify(json ?? null));
  const head = Buffer.allocUnsafe(HEADER_BYTES + 4 * payloads.length);
  head.writeUInt32LE(kind, 0);
  head.writeUInt32LE(id, 4);
  head.writeUInt32LE(text.length, 8);
  head.writeUInt32LE(payloads.length, 12);
  const out: Buffer[] = [head, text];
  payloads.forEach((p, i) => {
    const shared = ids !== null && ids[i] !== 0;
    head.writeUInt32LE(shared ? (SHARED | p.length) >>> 0 : p.length, HEADER_BYTES + 4 * i);
    if (!shared) out.push(p);
  });
  return out;
}

/** The trailing id list of a frame whose payloads include shared ones (empty when none). */
function idList(ids: Uint32Array | null): Buffer[] {
  if (ids === null) return [];
  const list = ids.filter((x) => x !== 0);
  if (list.length === 0) return [];
  const b = Buffer.allocUnsafe(4 * list.length);
  list.forEach((x, i) => b.writeUInt32LE(x, 4 * i));
  return [b];
}

/**
 * Counts the copy of `payloads` that are not shared into the ring (copy-meter.ts), which sending them will make;
 * returns those bytes.
 */
function countRingCopy(payloads: readonly Buffer[], ids: Uint32Array | null): number {
  let bytes = 0;
  payloads.forEach((p, i) => {
    if (ids === null || ids[i] === 0) bytes += p.length;
  });
  if (bytes > 0) countCopy('shardHop', bytes);
  return bytes;
}

export class ShardLink {
  readonly #tx: ChannelSender;
  readonly #rx: ChannelReceiver;
  readonly #serve: RpcServe;
  readonly #pending = new Map<number, Pending>();
  /** Frames waiting for ring space; the head may be partly sent (`sent` bytes, in fragments). */
  readonly #outbox: { parts: Buffer[]; length: number; sent: number }[] = [];
  #outboxBytes = 0;
  #pumping = false;
  #nextId = 1;
  #closed: Error | null = null;
  /** A fragmented frame being reassembled. */
  #assembling: { buf: Buffer; at: number } | null = null;
  /** Resolves when the receive loop ends. */
  readonly done: Promise<void>;
  /** Bytes waiting for ring space. */
  get queuedBytes(): number {
    return this.#outboxBytes;
  }

  /**
   * Counters: calls made to the peer, calls served for it, frames that had to be fragmented, answers sent through
   * the bulk arena, answers that asked for it but went through the ring (too small, or no room), arena blocks
   * this side has lent and not had back; bulk answers' payload bytes sent where a read put them (no copy) and
   * copied into the arena; payload bytes sent and received by reference (shared, no copy); payload bytes sent
   * through the ring (copied in and out).
   */
  get stats(): {
    callsSent: number;
    callsServed: number;
    fragmented: number;
    bulkAnswers: number;
    bulkDeclined: number;
    bulkBlocksLent: number;
    bulkBytesInPlace: number;
    bulkBytesCopied: number;
    bytesShared: number;
    bytesSharedIn: number;
    ringPayloadBytes: number;
  } {
    return { ...this.#counts, bulkBlocksLent: this.#bulkTx?.blocksInUse ?? 0 };
  }
  readonly #counts = { callsSent: 0, callsServed: 0, fragmented: 0, bulkAnswers: 0, bulkDeclined: 0, bulkBytesInPlace: 0, bulkBytesCopied: 0, bytesShared: 0, bytesSharedIn: 0, ringPayloadBytes: 0 };
  readonly #bulkTx: BulkWriter | null;
  readonly #bulkRx: BulkReader | null;
  /** Runs released here and not yet sent back to the peer (start, count pairs). */
  #releases: number[] = [];
  /** Payloads by reference (share.ts), or null: everything is copied. `#shareTag` names this side's exports. */
  readonly #share: ShareBinding | null;
  readonly #shareTag: number;

  constructor(
    readonly peer: number,
    tx: SharedArrayBuffer,
    rx: SharedArrayBuffer,
    serve: RpcServe,
    private readonly opts: { onClose?: (why: Error) => void; bulk?: BulkBuffers; share?: boolean } = {},
  ) {
    this.#tx = new ChannelSender(tx);
    this.#rx = new ChannelReceiver(rx);
    this.#bulkTx = opts.bulk ? new BulkWriter(opts.bulk.tx) : null;
    this.#bulkRx = opts.bulk ? new BulkReader(opts.bulk.rx) : null;
    this.#serve = serve;
    this.#share = opts.share === false ? null : shareBinding();
    if (this.#share !== null) enableShareMarks(); // memory read before this link existed is copied, as unmarked
    this.#shareTag = this.#share?.shareTag() ?? 0;
    this.done = this.#rx.run((m) => this.#receive(m)).catch((err: unknown) => this.close(err as Error));
  }

  get closed(): boolean {
    return this.#closed !== null;
  }

  /**
   * Calls `op` on the peer; resolves with its result and payloads: owned copies, or with `bulk`, possibly views
   * of the peer's arena with a `release` to call.
   */
  call(op: string, args: unknown, payloads: readonly Buffer[] = [], opts: { bulk?: boolean } = {}): Promise<RpcMessage> {
    if (this.#closed) return Promise.reject(new ShardUnavailableError(`shard ${this.peer} is unavailable: ${this.#closed.message}`));
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0 || 1;
    this.#counts.callsSent++;
    return new Promise<RpcMessage>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const ids = this.#exportShared(payloads);
      this.#counts.ringPayloadBytes += countRingCopy(payloads, ids);
      this.#send([...encode(REQUEST, id, opts.bulk && this.#bulkRx ? { op, args, bulk: true } : { op, args }, payloads, ids), ...idList(ids)]);
    });
  }

  /** Fails every call in flight and stops both rings (the peer died or is being replaced). */
  close(why: Error = new Error('closed')): void {
    if (this.#closed) return;
    this.#closed = why;
    this.opts.onClose?.(why);
    this.#tx.close();
    this.#rx.close();
    this.#outbox.length = 0;
    this.#outboxBytes = 0;
    this.#share?.shareDrop(this.#shareTag); // exports the peer will not take now
    const err = new ShardUnavailableError(`shard ${this.peer} is unavailable: ${why.message}`);
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  /** Sends a frame now if the ring has room and nothing waits before it; else queues it behind the others. */
  #send(parts: Buffer[]): void {
    if (this.#closed) return;
    let length = 0;
    for (const p of parts) length += p.length;
    if (length > this.#tx.messageBytesMax) this.#counts.fragmented++;
    this.#outbox.push({ parts, length, sent: 0 });
    this.#outboxBytes += length;
    if (!this.#pumping && this.#drain() !== null) void this.#pump();
  }

  /** The next ring message of the head frame: the whole frame, or its next fragment (views, no copy). */
  #next(): Buffer[] | null {
    const f = this.#outbox[0];
    if (!f) return null;
    const max = this.#tx.messageBytesMax;
    if (f.length <= max) return f.parts;
    const n = Math.min(max - FRAGMENT_HEADER_BYTES, f.length - f.sent);
    const h = Buffer.allocUnsafe(FRAGMENT_HEADER_BYTES);
    h.writeUInt32LE(FRAGMENT, 0);
    h.writeUInt32LE(f.length, 4);
    const out: Buffer[] = [h];
    let skip = f.sent;
    let want = n;
    for (const p of f.parts) {
      if (want === 0) break;
      if (skip >= p.length) {
        skip -= p.length;
        continue;
      }
      const take = Math.min(p.length - skip, want);
      out.push(p.subarray(skip, skip + take));
      want -= take;
      skip = 0;
    }
    return out;
  }

  /** Marks the message `#next` gave as sent. */
  #advance(message: Buffer[]): void {
    const f = this.#outbox[0]!;
    if (f.length <= this.#tx.messageBytesMax) f.sent = f.length;
    else for (let i = 1; i < message.length; i++) f.sent += message[i]!.length;
    if (f.sent < f.length) return;
    this.#outbox.shift();
    this.#outboxBytes -= f.length;
  }

  /** Sends what fits now; returns the message that did not fit, or null when the outbox is empty. */
  #drain(): Buffer[] | null {
    for (let m = this.#next(); m !== null; m = this.#next()) {
      if (!this.#tx.trySend(m)) return m;
      this.#advance(m);
    }
    return null;
  }

  /** Waits for ring space (the peer reading) and sends the rest, in order. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      for (let m = this.#drain(); m !== null && !this.#closed; m = this.#drain()) {
        await this.#tx.send(m);
        this.#advance(m);
      }
    } catch (err) {
      this.close(err as Error);
    } finally {
      this.#pumping = false;
    }
  }

  /** A run of at most what is left of the call's half of the arena, for `ServeContext.reserve`. */
  #reserve(reserved: BulkRun[], bytes: number): Uint8Array | null {
    const tx = this.#bulkTx;
    if (tx === null || this.#closed) return null;
    let held = 0;
    for (const r of reserved) held += r.count;
    if (held + Math.ceil(bytes / BULK_BLOCK_BYTES) > tx.blocks / 2) return null;
    const got = tx.reserve(bytes);
    if (got === null) return null;
    reserved.push(got.run);
    return got.memory;
  }

  #freeRuns(runs: readonly BulkRun[]): void {
    for (const r of runs) this.#bulkTx!.free(r.start, r.count);
  }

  /**
   * The answer to a call: through the bulk arena when the caller asked and it fits, else through the ring.
   * `reserved`: the runs its handler reserved (some payloads may be views of them).
   */
  #answer(id: number, result: unknown, payloads: readonly Buffer[], bulk: boolean, reserved: readonly BulkRun[]): void {
    const ids = this.#exportShared(payloads);
    if (bulk && this.#bulkTx && payloads.length > 0) {
      const placed = this.#place(this.#bulkTx, payloads, reserved, ids);
      if (placed) {
        this.#counts.bulkAnswers++;
        const [head, text] = encode(BULK_RESPONSE, id, { ok: true, result }, payloads, ids);
        const tail = Buffer.allocUnsafe(4 + 8 * placed.runs.length + 4 * payloads.length);
        tail.writeUInt32LE(placed.runs.length, 0);
        placed.runs.forEach((r, i) => {
          tail.writeUInt32LE(r.start, 4 + 8 * i);
          tail.writeUInt32LE(r.count, 8 + 8 * i);
        });
        const at = 4 + 8 * placed.runs.length;
        placed.offsets.forEach((o, i) => tail.writeUInt32LE(o, at + 4 * i));
        this.#send([head!, text!, tail, ...idList(ids)]);
        return;
      }
      this.#counts.bulkDeclined++;
    }
    if (reserved.length > 0) this.#freeRuns(reserved);
    this.#counts.ringPayloadBytes += countRingCopy(payloads, ids);
    this.#send([...encode(RESPONSE, id, { ok: true, result }, payloads, ids), ...idList(ids)]);
  }

  /** Exports the payloads that may go by reference (share.ts): an id each, 0 for the others; null when none. */
  #exportShared(payloads: readonly Buffer[]): Uint32Array | null {
    if (this.#share === null || this.#closed) return null; // closed: the frame is not sent, and close() has dropped the tag
    const candidates: Buffer[] = [];
    const at: number[] = [];
    payloads.forEach((p, i) => {
      if (isShareable(p)) {
        candidates.push(p);
        at.push(i);
      }
    });
    if (candidates.length === 0) return null;
    const got = this.#share.shareExport(this.#shareTag, candidates);
    const ids = new Uint32Array(payloads.length);
    let any = false;
    at.forEach((i, k) => {
      ids[i] = got[k]!;
      if (got[k] !== 0) {
        any = true;
        this.#counts.bytesShared += payloads[i]!.length;
      }
    });
    return any ? ids : null;
  }

  /**
   * Takes the shared payloads of a received frame (`flags[i]`: payload i is shared), whose ids are the frame's last
   * 4 x shared bytes. Null when the frame is malformed or an id cannot be taken (its sender is gone), in which
   * case whatever was taken is dropped.
   */
  #importShared(view: Buffer, sizes: readonly number[], flags: readonly boolean[], shared: number): (Buffer | null)[] | null {
    if (this.#share === null) return null;
    const ids = new Uint32Array(shared);
    const at = view.length - 4 * shared;
    for (let k = 0; k < shared; k++) ids[k] = view.readUInt32LE(at + 4 * k);
    const got = this.#share.shareImport(ids);
    const out: (Buffer | null)[] = [];
    let k = 0;
    for (let i = 0; i < sizes.length; i++) {
      if (!flags[i]) {
        out.push(null);
        continue;
      }
      const b = got[k++];
      if (!b || b.length !== sizes[i]) return null;
      markShareable(b);
      this.#counts.bytesSharedIn += b.length;
      out.push(b);
    }
    return out;
  }

  /**
   * Lays an answer's payloads out in the arena: those read into the call's reserved runs stay where they are, the
   * others are copied end to end into one more run; shared ones (`ids`) are not in the arena (offset 0). Frees the
   * reserved runs no payload lies in. Null (nothing
   * changed) when that copy run cannot be had, or when nothing was read into the arena and the answer is too
   * small to be worth a release round trip.
   */
  #place(tx: BulkWriter, payloads: readonly Buffer[], reserved: readonly BulkRun[], ids: Uint32Array | null): { runs: BulkRun[]; offsets: number[] } | null {
    const offsets = new Array<number>(payloads.length).fill(-1);
    const used = new Set<BulkRun>();
    const rest: Buffer[] = [];
    let restBytes = 0;
    let inPlace = 0;
    payloads.forEach((p, i) => {
      if (p.length === 0 || (ids !== null && ids[i] !== 0)) {
        offsets[i] = 0;
        return;
      }
      const at = tx.offsetOf(p);
      const run = at < 0 ? undefined : reserved.find((r) => at >= r.start * BULK_BLOCK_BYTES && at + p.length <= (r.start + r.count) * BULK_BLOCK_BYTES);
      if (run === undefined) {
        rest.push(p);
        restBytes += p.length;
        return;
      }
      offsets[i] = at;
      used.add(run);
      inPlace += p.length;
    });
    if (used.size === 0 && restBytes < BULK_PAYLOAD_BYTES_MIN) return null;
    const runs = [...used];
    if (restBytes > 0) {
      const run = tx.write(rest, restBytes);
      if (run === null) return null;
      countCopy('shardHop', restBytes);
      this.#counts.bulkBytesCopied += restBytes;
      runs.push(run);
      let at = run.start * BULK_BLOCK_BYTES;
      payloads.forEach((p, i) => {
        if (offsets[i] !== -1) return;
        offsets[i] = at;
        at += p.length;
      });
    }
    const unused = reserved.filter((r) => !used.has(r));
    if (unused.length > 0) this.#freeRuns(unused);
    this.#counts.bulkBytesInPlace += inPlace;
    return { runs, offsets };
  }

  /** Queues a run's return to the peer; one RELEASE frame per turn of the event loop carries them all. */
  #release(start: number, count: number): void {
    if (this.#closed) return;
    if (this.#releases.length === 0) setImmediate(() => this.#flushReleases());
    this.#releases.push(start, count);
  }

  #flushReleases(): void {
    const runs = this.#releases;
    this.#releases = [];
    if (this.#closed || runs.length === 0) return;
    // Never fragmented: at most one run per arena block is lent (2 x ring / 64 KiB), 8 bytes each, far below the
    // ring's message limit (a quarter of the ring); #receive handles RELEASE as a single message only.
    const f = Buffer.allocUnsafe(8 + 4 * runs.length);
    f.writeUInt32LE(RELEASE, 0);
    f.writeUInt32LE(runs.length / 2, 4);
    runs.forEach((v, i) => f.writeUInt32LE(v, 8 + 4 * i));
    this.#send([f]);
  }

  #takeReleases(view: Buffer): void {
    const runs = view.readUInt32LE(4);
    if (!this.#bulkTx || view.length < 8 + 8 * runs) {
      this.close(new Error(`bad release frame from shard ${this.peer}`));
      return;
    }
    for (let i = 0; i < runs; i++) {
      const start = view.readUInt32LE(8 + 8 * i);
      const count = view.readUInt32LE(12 + 8 * i);
      if (!this.#bulkTx.free(start, count)) {
        this.close(new Error(`shard ${this.peer} released bulk blocks ${start}+${count} it did not hold`));
        return;
      }
    }
  }

  #receive(m: Uint8Array): void {
    const view = Buffer.from(m.buffer, m.byteOffset, m.length);
    const kind = view.readUInt32LE(0);
    if (kind === RELEASE) {
      this.#takeReleases(view);
      return;
    }
    if (kind === FRAGMENT) {
      const total = view.readUInt32LE(4);
      const a = (this.#assembling ??= { buf: Buffer.allocUnsafe(total), at: 0 });
      view.copy(a.buf, a.at, FRAGMENT_HEADER_BYTES);
      countCopy('shardHop', view.length - FRAGMENT_HEADER_BYTES); // the frame's header and JSON too, a few bytes
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
    const sizes: number[] = [];
    const flags: boolean[] = [];
    let shared = 0;
    let payloadBytes = 0; // of the payloads in the frame
    for (let i = 0; i < count; i++) {
      const raw = view.readUInt32LE(HEADER_BYTES + 4 * i);
      const isShared = raw >= SHARED;
      sizes.push(isShared ? raw - SHARED : raw);
      flags.push(isShared);
      if (isShared) shared++;
      else payloadBytes += raw;
    }
    if (shared > 0 && (this.#share === null || view.length - 4 * shared < at + (kind === BULK_RESPONSE ? 0 : payloadBytes))) {
      this.close(new Error(`bad frame from shard ${this.peer}: shared payloads it cannot name`));
      return;
    }
    // Shared payloads are taken first, whatever becomes of the frame: an id left in the table holds its memory.
    const taken = shared > 0 ? this.#importShared(view, sizes, flags, shared) : null;
    const lost = shared > 0 && taken === null; // an id the sender's teardown dropped, or a size that does not match
    if (kind === BULK_RESPONSE) {
      this.#bulkAnswer(view, id, json, sizes, taken, lost, at, view.length - 4 * shared);
      return;
    }
    // One copy of every other payload out of the ring, into one buffer.
    const body = transient ? Buffer.allocUnsafe(payloadBytes) : view.subarray(at, at + payloadBytes);
    if (transient) view.copy(body, 0, at, at + payloadBytes);
    if (transient && payloadBytes > 0) countCopy('shardHop', payloadBytes);
    const payloads: Buffer[] = [];
    let o = 0;
    for (let i = 0; i < count; i++) {
      const b = taken?.[i];
      if (b) {
        payloads.push(b);
        continue;
      }
      payloads.push(body.subarray(o, o + sizes[i]!));
      o += sizes[i]!;
    }
    if (kind === RESPONSE) {
      const p = this.#pending.get(id);
      if (!p) return; // the caller gave up (a long poll it no longer waits for)
      this.#pending.delete(id);
      const r = json as { ok: boolean; result?: unknown; error?: string };
      if (lost) p.reject(new ShardUnavailableError(`shard ${this.peer} answered with memory it no longer shares`));
      else if (r.ok) p.resolve({ args: r.result, payloads });
      else p.reject(new Error(r.error ?? 'remote call failed'));
      return;
    }
    if (kind !== REQUEST) {
      this.close(new Error(`bad frame kind ${kind} from shard ${this.peer}`));
      return;
    }
    if (lost) {
      this.#send(encode(RESPONSE, id, { ok: false, error: 'the request\'s shared payloads are gone' }, []));
      return;
    }
    const { op, args, bulk } = json as { op: string; args: unknown; bulk?: boolean };
    this.#counts.callsServed++;
    const reserved: BulkRun[] = [];
    const ctx: ServeContext = bulk === true && this.#bulkTx ? { reserve: (bytes) => this.#reserve(reserved, bytes) } : {};
    this.#serve(op, args, payloads, ctx).then(
      (r) => this.#answer(id, r.result, r.payloads ?? [], bulk === true, reserved),
      (err: unknown) => {
        if (reserved.length > 0) this.#freeRuns(reserved);
        this.#send(encode(RESPONSE, id, { ok: false, error: (err as Error).message }, []));
      },
    );
  }

  /**
   * A BULK_RESPONSE: payload views of the peer's arena (and shared payloads, `taken`), and the release that hands
   * its runs back. `end`: where the frame's shared ids start (its length when none).
   */
  #bulkAnswer(view: Buffer, id: number, json: unknown, sizes: readonly number[], taken: readonly (Buffer | null)[] | null, lost: boolean, at: number, end: number): void {
    const count = sizes.length;
    const runCount = at + 4 <= end ? view.readUInt32LE(at) : -1;
    const offsetsAt = at + 4 + 8 * runCount;
    if (runCount < 1 || offsetsAt + 4 * count > end) {
      this.close(new Error(`bad bulk answer from shard ${this.peer}`));
      return;
    }
    const runs: BulkRun[] = [];
    for (let i = 0; i < runCount; i++) runs.push({ start: view.readUInt32LE(at + 4 + 8 * i), count: view.readUInt32LE(at + 8 + 8 * i) });
    const inArena: number[] = [];
    const offsets: number[] = [];
    for (let i = 0; i < count; i++) {
      const isShared = taken?.[i] != null;
      inArena.push(isShared ? 0 : sizes[i]!);
      offsets.push(isShared ? 0 : view.readUInt32LE(offsetsAt + 4 * i));
    }
    const views = this.#bulkRx?.views(runs, offsets, inArena);
    if (!views) {
      this.close(new Error(`bad bulk answer from shard ${this.peer}`));
      return;
    }
    const payloads = views.map((v, i) => taken?.[i] ?? v);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      for (const r of runs) this.#release(r.start, r.count);
    };
    const p = this.#pending.get(id);
    if (!p || lost) {
      release(); // the caller gave up, or the answer cannot be whole
      if (p) {
        this.#pending.delete(id);
        p.reject(new ShardUnavailableError(`shard ${this.peer} answered with memory it no longer shares`));
      }
      return;
    }
    this.#pending.delete(id);
    p.resolve({ args: (json as { result?: unknown }).result, payloads, release });
  }
}
