/**
 * One client connection: frames in, handlers run, responses out in request order.
 *
 * Kafka clients pipeline requests and match responses by correlation id, but they also rely on responses
 * arriving in request order, so every request takes a slot in `pending` when it is read and the slots are
 * written strictly in order as they complete (a long-polling Fetch holds back the answers queued behind it,
 * as in Kafka).
 *
 * Limits: a frame over `requestBytesMax` closes the connection before allocation (FrameParser); at most
 * `inflightRequestsPerConnectionMax` unanswered requests and `responseQueueBytesMax` unsent response bytes,
 * above which the socket stops being read (a client that does not read its responses cannot grow our memory);
 * at most `fetchesInFlightPerConnectionMax` Fetches in progress (a further one waits in `backlog`, in order);
 * `connectionIdleMs` of silence with no request in progress closes it. The limits are checked after every
 * frame, not every chunk: one 64 KiB chunk can hold hundreds of small pipelined requests, so frames parsed after
 * a limit is reached wait in `backlog` (views of the chunk already read; the socket is paused, so at most one
 * chunk's worth) and are started one by one as responses leave.
 *
 * Frames come from the parser as views of the socket reads, a list of views when a request spans reads
 * (FrameParser.pushChunked): the record batches of a Produce request reach the log without being copied.
 *
 * Bad input closes the connection (and only that connection): an unparseable header, an API Tern does not
 * serve, a version outside the advertised range (except ApiVersions, answered per KIP-511). Kafka does the same,
 * because such a request cannot be answered in a form the client could parse.
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import { chunkedLength, type ChunkedBytes } from '../protocol/chunked-bytes.js';
import { ProtocolError } from '../protocol/codec.js';
import { encodeResponse, peekRequestPrefix, readRequest, type RequestPrefix } from '../protocol/frame.js';
import { API_SPECS, ApiKey } from '../protocol/messages/index.js';
import { ErrorCode } from '../protocol/errors.js';
import { FrameParser } from '../protocol/frame-parser.js';
import { markShareable } from '../io/share.js';
import type { ApiHandler, BrokerServices, RequestContext } from './context.js';

/**
 * What all connections of a listener hold together: bytes of incomplete request frames (`bytes`), and bytes of
 * requests read and not yet answered (`queuedBytes`, Kafka's queued.max.request.bytes): past
 * `requestQueueBytesMax` every connection stops reading until answers free some (`waiters` are woken then).
 */
export interface PartialFrameBudget {
  bytes: number;
  queuedBytes?: number;
  waiters?: Set<() => void>;
}

interface Slot {
  done: boolean;
  /** Request bytes charged to the listener's queue budget until this slot is answered. */
  bytes: number;
  chunks: Buffer[] | null;
  /** Close the connection once everything before this slot is written (acks=0 produce failed). */
  closeReason: string | null;
  /** Run once the response is taken by the socket, or when it will not be written (ctx.holdUntilWritten). */
  releases?: (() => void)[];
}

function runAll(fns: readonly (() => void)[]): void {
  for (const f of fns) f();
}

export class Connection {
  private readonly parser: FrameParser;
  /** This connection's share of the listener's partial-frame budget. */
  private partialBytesCharged = 0;
  private readonly pending: Slot[] = [];
  /** Frames read while paused, not started yet (bounded by the chunk that was being parsed when we paused). */
  private readonly backlog: ChunkedBytes[] = [];
  private runningBacklog = false;
  private readonly abort = new AbortController();
  private closed = false;
  private paused = false;
  /** Fetches started and not yet answered. */
  private fetchesInFlight = 0;
  private readonly log: Logger;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly broker: BrokerServices,
    private readonly handlers: ReadonlyMap<number, ApiHandler>,
    private readonly onClose: (c: Connection) => void,
    private readonly partialBytes: PartialFrameBudget = { bytes: 0 },
  ) {
    const cfg = broker.config;
    this.parser = new FrameParser(cfg.requestBytesMax);
    this.log = broker.logger.child({ conn: id, remote: `${socket.remoteAddress}:${socket.remotePort}` });
    socket.setNoDelay(true);
    // Idle = silent with nothing in progress: a long-polling Fetch (up to fetchWaitMsMax) is not idleness, so
    // the check is simply repeated a period later. (A permanent listener: the callback argument of
    // socket.setTimeout is a once-listener.)
    socket.setTimeout(cfg.connectionIdleMs);
    socket.on('timeout', () => {
      if (this.pending.length === 0) this.close('idle timeout');
      else socket.setTimeout(cfg.connectionIdleMs);
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.maybeResume());
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => this.close('peer closed'));
  }

  /** Requests read and not yet answered. */
  get inflight(): number {
    return this.pending.length;
  }

  private onData(chunk: Buffer): void {
    if (this.closed || this.draining) return; // draining: requests that arrive now are not started
    markShareable(chunk); // V8's memory: a cross-shard produce may hand its records to the owner by reference
    try {
      this.parser.pushChunked(chunk, (frame) => this.acceptFrame(frame));
    } catch (err) {
      this.close(`bad frame: ${(err as Error).message}`);
      return;
    }
    // Partial frames of all connections share one budget: many slow senders each holding part of a large
    // request could otherwise add up to connectionsMax x requestBytesMax. The connection whose bytes cross
    // the budget is the one closed.
    if (this.closed) return; // closed from inside push (a bad request): close() released our share
    const held = this.parser.bufferedBytes;
    this.partialBytes.bytes += held - this.partialBytesCharged;
    this.partialBytesCharged = held;
    if (this.partialBytes.bytes > this.broker.config.partialFrameBytesMax) {
      this.close(`partial requests of all connections exceed partialFrameBytesMax (${this.broker.config.partialFrameBytesMax} bytes)`);
      return;
    }
    this.maybePause();
  }

  private acceptFrame(frame: ChunkedBytes): void {
    if (this.paused || this.backlog.length > 0) {
      this.backlog.push(frame);
      return;
    }
    if (this.waitsForFetches(frame)) {
      this.backlog.push(frame);
      this.pause();
      return;
    }
    this.onFrame(frame);
    this.maybePause();
  }

  /** A Fetch that must wait for one in progress to be answered (fetchesInFlightPerConnectionMax). */
  private waitsForFetches(frame: ChunkedBytes): boolean {
    if (this.fetchesInFlight < this.broker.config.fetchesInFlightPerConnectionMax) return false;
    try {
      return peekRequestPrefix(frame).apiKey === ApiKey.Fetch;
    } catch {
      return false; // onFrame closes the connection for it
    }
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  /** Starts backlogged frames while the limits allow. Not reentrant: a handler answering synchronously calls
   * flush() -> maybeResume() from inside onFrame. */
  private runBacklog(): void {
    if (this.runningBacklog) return;
    this.runningBacklog = true;
    try {
      while (this.backlog.length > 0 && !this.paused && !this.closed) {
        if (this.waitsForFetches(this.backlog[0]!)) {
          this.pause();
          break;
        }
        this.onFrame(this.backlog.shift()!);
        this.maybePause();
      }
    } finally {
      this.runningBacklog = false;
    }
  }

  private onFrame(frame: ChunkedBytes): void {
    if (this.closed) return;
    let prefix: RequestPrefix;
    try {
      prefix = peekRequestPrefix(frame);
    } catch (err) {
      this.close((err as Error).message);
      return;
    }
    const handler = this.handlers.get(prefix.apiKey);
    if (!handler) {
      this.close(`API key ${prefix.apiKey} is not served`);
      return;
    }
    if (prefix.apiVersion < handler.minVersion || prefix.apiVersion > handler.maxVersion) {
      if (prefix.apiKey === ApiKey.ApiVersions) {
        this.unsupportedApiVersions(prefix, handler);
        return;
      }
      this.close(`${API_SPECS.get(prefix.apiKey)?.name} v${prefix.apiVersion} is not served`);
      return;
    }
    let req: unknown;
    let clientId: string | null;
    try {
      const { header, body } = readRequest(frame);
      clientId = header.clientId;
      req = API_SPECS.get(prefix.apiKey)!.readRequest(body, prefix.apiVersion);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.close(`malformed ${API_SPECS.get(prefix.apiKey)?.name} v${prefix.apiVersion}: ${err.message}`);
        return;
      }
      throw err;
    }
    const slot: Slot = { done: false, bytes: chunkedLength(frame), chunks: null, closeReason: null };
    this.pending.push(slot);
    this.#charge(slot.bytes);
    const isFetch = prefix.apiKey === ApiKey.Fetch;
    if (isFetch) this.fetchesInFlight++;
    const ctx: RequestContext = {
      broker: this.broker,
      apiVersion: prefix.apiVersion,
      clientId,
      connectionId: this.id,
      clientHost: `/${this.socket.remoteAddress ?? ''}`,
      signal: this.abort.signal,
      closeAfterEarlierResponses: (reason: string) => {
        slot.closeReason = reason;
      },
      holdUntilWritten: (release: () => void) => {
        if (this.closed) release();
        else (slot.releases ??= []).push(release);
      },
    };
    const finish = (res: unknown): void => {
      if (res !== null && !this.closed) {
        const spec = API_SPECS.get(prefix.apiKey)!;
        slot.chunks = encodeResponse(prefix.apiKey, prefix.apiVersion, prefix.correlationId, (w) => spec.writeResponse(w, prefix.apiVersion, res as never));
      }
      slot.done = true;
      if (isFetch) this.fetchesInFlight--;
      this.flush();
    };
    try {
      const out = (handler as ApiHandler<unknown>).handle(req, ctx);
      if (out instanceof Promise) {
        // .catch after .then: a throw while encoding the response lands there too, never as an unhandled
        // rejection (which would end the process).
        out.then(finish).catch((err: unknown) => this.handlerFailed(prefix, err));
      } else {
        finish(out);
      }
    } catch (err) {
      this.handlerFailed(prefix, err);
    }
  }

  /** KIP-511: an ApiVersions version we do not know is answered in v0 with UNSUPPORTED_VERSION and our range. */
  private unsupportedApiVersions(prefix: RequestPrefix, handler: ApiHandler): void {
    const chunks = encodeResponse(ApiKey.ApiVersions, 0, prefix.correlationId, (w) =>
      API_SPECS.get(ApiKey.ApiVersions)!.writeResponse(w, 0, {
        errorCode: ErrorCode.UNSUPPORTED_VERSION,
        apiKeys: [{ apiKey: ApiKey.ApiVersions, minVersion: handler.minVersion, maxVersion: handler.maxVersion }],
      } as never),
    );
    this.pending.push({ done: true, bytes: 0, chunks, closeReason: null });
    this.flush();
  }

  private handlerFailed(prefix: RequestPrefix, err: unknown): void {
    // A handler must return Kafka errors as data; reaching here is a bug. The connection cannot be answered
    // correctly any more (the slot would block every later response), so it is closed; the broker lives on.
    this.log.error({ err, apiKey: prefix.apiKey, apiVersion: prefix.apiVersion }, 'request handler failed');
    this.close('handler failure');
  }

  private flush(): void {
    while (this.pending.length > 0 && this.pending[0]!.done) {
      const slot = this.pending.shift()!;
      this.#charge(-slot.bytes);
      if (slot.closeReason !== null) {
        // Earlier answers are already queued on the socket; end() sends them, then closes.
        this.close(slot.closeReason, true);
        return;
      }
      const releases = slot.releases;
      slot.releases = undefined;
      if (slot.chunks && slot.chunks.length > 0 && !this.closed) {
        // The socket calls back once it has taken the bytes (or failed, or was destroyed): then the views the
        // response holds may be handed back.
        const written = releases ? () => runAll(releases) : undefined;
        if (slot.chunks.length === 1) this.socket.write(slot.chunks[0]!, written);
        else {
          this.socket.cork();
          const last = slot.chunks.length - 1;
          slot.chunks.forEach((c, i) => this.socket.write(c, i === last ? written : undefined));
          this.socket.uncork();
        }
      } else if (releases) runAll(releases);
    }
    if (this.draining && this.pending.length === 0) this.socket.end();
    this.maybeResume();
  }

  /** Charges (or, negative, releases) request bytes against the listener's queue budget; wakes readers below it. */
  #charge(bytes: number): void {
    if (this.closed) return; // close() released this connection's whole charge
    this.#adjustQueue(bytes);
  }

  #adjustQueue(bytes: number): void {
    const b = this.partialBytes;
    b.queuedBytes = (b.queuedBytes ?? 0) + bytes;
    this.chargedBytes += bytes;
    if (bytes < 0 && b.waiters && b.waiters.size > 0 && b.queuedBytes <= this.broker.config.requestQueueBytesMax) {
      const wake = [...b.waiters];
      b.waiters.clear();
      for (const w of wake) w();
    }
  }

  private chargedBytes = 0;
  private readonly wake = (): void => this.maybeResume();

  private overQueueBudget(): boolean {
    return (this.partialBytes.queuedBytes ?? 0) > this.broker.config.requestQueueBytesMax;
  }

  private maybePause(): void {
    const cfg = this.broker.config;
    const overBudget = this.overQueueBudget();
    if (this.pending.length >= cfg.inflightRequestsPerConnectionMax || this.socket.writableLength > cfg.responseQueueBytesMax || overBudget) this.pause();
    if (overBudget) (this.partialBytes.waiters ??= new Set()).add(this.wake);
  }

  private maybeResume(): void {
    const cfg = this.broker.config;
    if (this.paused && !this.overQueueBudget()) this.partialBytes.waiters?.delete(this.wake);
    if (
      this.paused &&
      !this.draining &&
      !this.closed &&
      this.pending.length < cfg.inflightRequestsPerConnectionMax &&
      this.socket.writableLength <= cfg.responseQueueBytesMax &&
      !this.overQueueBudget()
    ) {
      this.paused = false;
      this.runBacklog();
      if (!this.paused && this.backlog.length === 0) this.socket.resume();
    }
  }

  private draining = false;

  /**
   * Graceful close: start nothing new, answer what was started, then end the socket. The socket keeps flowing
   * (onData drops what arrives): a paused socket with unread bytes never sees the peer's FIN, so it would not
   * close until the shutdown grace period ran out.
   */
  drain(): void {
    if (this.closed) return;
    this.draining = true;
    this.paused = true; // keeps the backlog and maybeResume from starting requests
    this.socket.resume();
    this.backlog.length = 0; // read but not started: the client sees the close and retries them
    this.abort.abort(); // long polls answer now with what they have
    if (this.pending.length === 0) this.socket.end();
  }

  /**
   * Closes now. `gracefully`: end() instead of destroy(), so responses already queued on the socket are still
   * sent (used after a failed acks=0 produce); requests not yet answered are dropped either way.
   */
  close(reason: string, gracefully = false): void {
    if (this.closed) return;
    this.closed = true;
    this.log.debug({ reason }, 'connection closed');
    this.abort.abort();
    for (const slot of this.pending) {
      const releases = slot.releases;
      slot.releases = undefined;
      if (releases) runAll(releases);
    }
    this.pending.length = 0;
    this.backlog.length = 0;
    this.partialBytes.bytes -= this.partialBytesCharged;
    this.partialBytesCharged = 0;
    this.partialBytes.waiters?.delete(this.wake);
    if (this.chargedBytes !== 0) this.#adjustQueue(-this.chargedBytes);
    if (gracefully) this.socket.end();
    else this.socket.destroy();
    this.onClose(this);
  }

}
