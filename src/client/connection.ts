/**
 * One TCP connection to one broker: framing, correlation ids, pipelining, timeouts, ApiVersions negotiation.
 *
 * Lifecycle: `Connection.connect()` opens the socket, sends ApiVersions (v3, falling back to the version the
 * broker names when it answers UNSUPPORTED_VERSION, as KIP-511 specifies) and resolves once every API the
 * client implements has a negotiated version. Requests may then be pipelined: each gets the next correlation
 * id and a pending entry; responses are matched by correlation id. Any transport failure (socket error, EOF,
 * a response over `frameBytesMax`, a response that answers no request or does not decode, a request timeout)
 * closes the connection and rejects every pending request with a ConnectionError: after a timeout the byte
 * stream may still carry the late answer, and Kafka's own clients also disconnect then. `close()` is
 * idempotent. Not thread-shared: one event loop.
 *
 * Limits: `frameBytesMax` (largest response frame), `requestTimeoutMs` (per request, on top of any wait the
 * request asks the broker for), `inFlightRequestsMax` (pipelined requests; further ones wait for a slot),
 * `connectTimeoutMs`.
 */
import net from 'node:net';
import { decodeResponse, encodeRequest } from '../protocol/frame.js';
import { ApiKey, readApiVersionsResponse } from '../protocol/messages/index.js';
import { Reader } from '../protocol/codec.js';
import { ErrorCode } from '../protocol/errors.js';
import { ConnectionError, KafkaError, type ConnectionErrorCode } from './errors.js';
import { FrameParser, FrameTooLargeError } from '../protocol/frame-parser.js';
import { CLIENT_API_VERSIONS, negotiateVersions, type ApiRequest, type ApiResponse, type ClientApiKey } from './versions.js';

export interface ConnectionOptions {
  host: string;
  port: number;
  /** Kafka client id sent in every request header. */
  clientId?: string;
  /** Largest response frame accepted; a bigger one closes the connection. Default 128 MiB. */
  frameBytesMax?: number;
  /** Time for one request's response, added to any broker-side wait (Fetch MaxWaitMs). Default 30 s. */
  requestTimeoutMs?: number;
  /** Time to establish TCP and negotiate ApiVersions. Default 10 s. */
  connectTimeoutMs?: number;
  /** Requests sent and not yet answered; more wait for a slot. Default 256. */
  inFlightRequestsMax?: number;
}

export const FRAME_BYTES_MAX_DEFAULT = 128 * 1024 * 1024;
export const REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
export const CONNECT_TIMEOUT_MS_DEFAULT = 10_000;
export const IN_FLIGHT_REQUESTS_MAX_DEFAULT = 256;

/** A response frame carries at least its correlation id. */
const RESPONSE_FRAME_BYTES_MIN = 4;
const CLIENT_SOFTWARE_NAME = 'tern-client';
const CLIENT_SOFTWARE_VERSION = '0.1.0';
/** Correlation ids are INT32; wrap before overflow (ids of long-finished requests are never outstanding). */
const CORRELATION_ID_MAX = 0x7fffffff;

interface Pending {
  apiKey: number;
  version: number;
  resolve: (body: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface RequestOptions {
  /** Version to use instead of the negotiated one. */
  version?: number;
  /** Extra time the broker may legitimately hold the request (Fetch MaxWaitMs, Produce timeout). */
  brokerWaitMs?: number;
}

export class Connection {
  readonly broker: string;
  private readonly socket: net.Socket;
  private readonly parser: FrameParser;
  private readonly pending = new Map<number, Pending>();
  private readonly slotWaiters: (() => void)[] = [];
  private readonly closeListeners: ((err: Error | null) => void)[] = [];
  private nextCorrelationId = 0;
  private versions = new Map<number, number>();
  private closedWith: Error | null | undefined = undefined; // undefined while open
  private readonly clientId: string;
  private readonly requestTimeoutMs: number;
  private readonly inFlightRequestsMax: number;

  private constructor(socket: net.Socket, opts: ConnectionOptions) {
    this.socket = socket;
    this.broker = `${opts.host}:${opts.port}`;
    this.clientId = opts.clientId ?? 'tern';
    this.requestTimeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
    this.inFlightRequestsMax = opts.inFlightRequestsMax ?? IN_FLIGHT_REQUESTS_MAX_DEFAULT;
    this.parser = new FrameParser(opts.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT, RESPONSE_FRAME_BYTES_MIN);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.push(chunk, (frame) => this.onFrame(frame));
      } catch (err) {
        if (err instanceof FrameTooLargeError) this.fail('ERR_TERN_FRAME_TOO_LARGE', `${this.broker}: ${err.message}`, { cause: err });
        else this.fail('ERR_TERN_PROTOCOL', `bad response from ${this.broker}: ${(err as Error).message}`, { cause: err });
      }
    });
    socket.on('error', (err) => this.fail('ERR_TERN_CONNECTION_CLOSED', `connection to ${this.broker} failed: ${err.message}`, { cause: err }));
    socket.on('close', () => this.fail('ERR_TERN_CONNECTION_CLOSED', `connection to ${this.broker} closed`));
  }

  /** Connects and negotiates API versions. Rejects with ConnectionError('ERR_TERN_CONNECT') on failure. */
  static async connect(opts: ConnectionOptions): Promise<Connection> {
    const connectTimeoutMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    const broker = `${opts.host}:${opts.port}`;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new ConnectionError('ERR_TERN_CONNECT', `cannot connect to ${broker}: timed out after ${connectTimeoutMs} ms`, broker));
      }, connectTimeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why = err.code === 'ECONNREFUSED' ? 'connection refused' : err.message;
        reject(new ConnectionError('ERR_TERN_CONNECT', `cannot connect to ${broker}: ${why}`, broker, { cause: err }));
      });
    });
    const conn = new Connection(socket, opts);
    try {
      await conn.negotiate(connectTimeoutMs);
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** The negotiated version of an API, or undefined when the broker does not support it in our range. */
  versionOf(apiKey: ClientApiKey): number | undefined {
    return this.versions.get(apiKey);
  }

  /** The negotiated version, or a KafkaError(UNSUPPORTED_VERSION) naming the API. */
  requireVersion(apiKey: ClientApiKey): number {
    const v = this.versions.get(apiKey);
    if (v === undefined) {
      const ours = CLIENT_API_VERSIONS.get(apiKey)!;
      throw new KafkaError(ErrorCode.UNSUPPORTED_VERSION, `broker ${this.broker} supports no version of API ${apiKey} in ${ours.min}..${ours.max}`);
    }
    return v;
  }

  /** Sends a request and resolves with its decoded response. */
  async request<K extends ClientApiKey>(apiKey: K, body: ApiRequest<K>, opts: RequestOptions = {}): Promise<ApiResponse<K>> {
    const version = opts.version ?? this.requireVersion(apiKey);
    this.throwIfClosed();
    while (this.pending.size >= this.inFlightRequestsMax) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
      this.throwIfClosed();
    }
    // No await from the check above to the registration below: the slot cannot be taken in between.
    const correlationId = this.takeCorrelationId();
    const timeoutMs = this.requestTimeoutMs + (opts.brokerWaitMs ?? 0);
    const response = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        const what = `request (API ${apiKey} v${version}) to ${this.broker} timed out after ${timeoutMs} ms`;
        this.fail('ERR_TERN_REQUEST_TIMEOUT', what, { culprit: correlationId });
      }, timeoutMs);
      this.pending.set(correlationId, { apiKey, version, resolve, reject, timer });
    });
    this.write(apiKey, version, correlationId, body);
    return response as Promise<ApiResponse<K>>;
  }

  /**
   * Sends a request the broker does not answer (Produce with acks=0). Resolves once the bytes are handed to
   * the socket; a later transport failure surfaces on the next request.
   */
  async send<K extends ClientApiKey>(apiKey: K, body: ApiRequest<K>, opts: RequestOptions = {}): Promise<void> {
    const version = opts.version ?? this.requireVersion(apiKey);
    this.throwIfClosed();
    await new Promise<void>((resolve, reject) => {
      const chunks = encodeRequest(apiKey, version, this.takeCorrelationId(), this.clientId, body);
      for (let i = 0; i < chunks.length - 1; i++) this.socket.write(chunks[i]!);
      this.socket.write(chunks[chunks.length - 1]!, (err) => (err ? reject(this.closedError() ?? err) : resolve()));
    });
  }

  /** Closes the socket; pending requests fail with ERR_TERN_CONNECTION_CLOSED. Idempotent. */
  close(): void {
    this.fail('ERR_TERN_CONNECTION_CLOSED', `connection to ${this.broker} closed by the client`, { byClient: true });
  }

  /** Calls `listener` once when the connection closes (err is null after `close()`). */
  onClose(listener: (err: Error | null) => void): void {
    if (this.closedWith !== undefined) listener(this.closedWith);
    else this.closeListeners.push(listener);
  }

  // -------------------------------------------------------------------------------------------------------

  private async negotiate(timeoutMs: number): Promise<void> {
    const deadline = setTimeout(() => this.fail('ERR_TERN_CONNECT', `cannot connect to ${this.broker}: ApiVersions timed out after ${timeoutMs} ms`), timeoutMs);
    try {
      const body = { clientSoftwareName: CLIENT_SOFTWARE_NAME, clientSoftwareVersion: CLIENT_SOFTWARE_VERSION };
      // Bounded by the connect deadline above, not by requestTimeoutMs.
      const wait = { brokerWaitMs: timeoutMs };
      let resp = await this.request(ApiKey.ApiVersions, body, { version: 3, ...wait });
      if (resp.errorCode === ErrorCode.UNSUPPORTED_VERSION) {
        // KIP-511: the error reply is in v0 form and lists the ApiVersions range the broker does support.
        const range = resp.apiKeys.find((k) => k.apiKey === ApiKey.ApiVersions);
        const v = Math.min(range?.maxVersion ?? 0, 2);
        resp = await this.request(ApiKey.ApiVersions, body, { version: v, ...wait });
      }
      if (resp.errorCode !== ErrorCode.NONE) throw new KafkaError(resp.errorCode, `ApiVersions failed on ${this.broker}`);
      this.versions = negotiateVersions(resp.apiKeys);
    } finally {
      clearTimeout(deadline);
    }
  }

  private takeCorrelationId(): number {
    const id = this.nextCorrelationId;
    this.nextCorrelationId = id === CORRELATION_ID_MAX ? 0 : id + 1;
    return id;
  }

  private write(apiKey: number, version: number, correlationId: number, body: unknown): void {
    let chunks: Buffer[];
    try {
      chunks = encodeRequest(apiKey, version, correlationId, this.clientId, body);
    } catch (err) {
      // A request we cannot encode is the caller's bug, but only this request fails.
      const p = this.pending.get(correlationId)!;
      this.pending.delete(correlationId);
      clearTimeout(p.timer);
      p.reject(err as Error);
      this.releaseSlot();
      return;
    }
    // One writev for the whole request: record batches are separate chunks (referenced, not copied).
    this.socket.cork();
    for (const c of chunks) this.socket.write(c);
    this.socket.uncork();
  }

  private onFrame(frame: Buffer): void {
    const correlationId = frame.readInt32BE(0);
    const p = this.pending.get(correlationId);
    if (p === undefined) throw new Error(`response with correlation id ${correlationId} answers no request`);
    this.pending.delete(correlationId);
    clearTimeout(p.timer);
    let body: unknown;
    try {
      body = p.apiKey === ApiKey.ApiVersions ? decodeApiVersions(frame, p.version) : decodeResponse(p.apiKey, p.version, frame).body;
    } catch (err) {
      p.reject(new ConnectionError('ERR_TERN_PROTOCOL', `cannot decode API ${p.apiKey} v${p.version} response from ${this.broker}: ${(err as Error).message}`, this.broker, { cause: err }));
      throw err; // the stream is suspect now: close the connection
    } finally {
      this.releaseSlot();
    }
    p.resolve(body);
  }

  private releaseSlot(): void {
    const next = this.slotWaiters.shift();
    if (next !== undefined) next();
  }

  private closedError(): Error | null {
    if (this.closedWith === undefined) return null;
    return this.closedWith ?? new ConnectionError('ERR_TERN_CONNECTION_CLOSED', `connection to ${this.broker} is closed`, this.broker);
  }

  private throwIfClosed(): void {
    const err = this.closedError();
    if (err !== null) throw err;
  }

  /**
   * Closes the connection once, rejecting every pending request. `culprit` (a correlation id) gets `err`
   * itself; the others learn that the connection closed because of it.
   */
  private fail(code: ConnectionErrorCode, message: string, opts: { cause?: unknown; culprit?: number; byClient?: boolean } = {}): void {
    if (this.closedWith !== undefined) return;
    const err = new ConnectionError(code, message, this.broker, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.closedWith = opts.byClient === true ? null : err;
    this.socket.destroy();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      if (opts.culprit === undefined || id === opts.culprit) p.reject(err);
      else p.reject(new ConnectionError('ERR_TERN_CONNECTION_CLOSED', `connection to ${this.broker} closed: ${message}`, this.broker, { cause: err }));
    }
    this.pending.clear();
    for (const w of this.slotWaiters.splice(0)) w();
    for (const l of this.closeListeners.splice(0)) l(this.closedWith);
  }
}

/**
 * ApiVersions replies to an unsupported request version in v0 form (KIP-511), so a v3 request may get a v0
 * body: both start with ErrorCode; on UNSUPPORTED_VERSION decode as v0.
 */
function decodeApiVersions(frame: Buffer, version: number): unknown {
  // Response header v0 = correlation id only (ApiVersions never uses header v1).
  if (frame.length >= 6 && frame.readInt16BE(4) === ErrorCode.UNSUPPORTED_VERSION) {
    return readApiVersionsResponse(new Reader(frame, 4), 0);
  }
  return decodeResponse(ApiKey.ApiVersions, version, frame).body;
}
