/**
 * The control plane between the main thread (supervisor) and its shards: postMessage, structured clone. It
 * carries what is rare and small (start-up, topic admin, links to restarted peers, shutdown); record bytes never
 * pass here.
 *
 * Both directions use one request/reply shape: `{ kind: 'call', id, op, args }` answered by
 * `{ kind: 'reply', id, ok, result | error }`; one-way notices are calls nobody waits for.
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import type { BrokerConfig } from '../broker/config.js';
import type { TopicRecord } from '../cluster/index.js';

/** What a shard starts from (workerData). */
export interface ShardInit {
  shardId: number;
  shards: number;
  config: BrokerConfig;
  clusterId: string;
  topics: TopicRecord[];
  /** Owner shard of each partition, per topic (index = partition). */
  owners: Record<string, number[]>;
  /** Rings to every other shard: `tx` this shard writes, `rx` it reads. */
  links: LinkInit[];
  /** The shard's clean-shutdown marker; absent or removed means its partitions are recovered by full scans. */
  cleanShutdownFile: string;
}

export interface LinkInit {
  peer: number;
  tx: SharedArrayBuffer;
  rx: SharedArrayBuffer;
  /** The bulk arenas (bulk.ts): this shard's answers to the peer, and the peer's answers to this shard. */
  bulkTx: SharedArrayBuffer;
  bulkRx: SharedArrayBuffer;
}

export interface ErrorData {
  message: string;
  code?: string;
}

type Call = { kind: 'call'; id: number; op: string; args: unknown };
type Reply = { kind: 'reply'; id: number; ok: boolean; result?: unknown; error?: ErrorData };

type Port = Pick<MessagePort | Worker, 'postMessage' | 'on' | 'off'>;

export class RemoteError extends Error {
  readonly code: string | undefined;
  constructor(e: ErrorData) {
    super(e.message);
    this.code = e.code;
  }
}

export function errorData(err: unknown): ErrorData {
  const e = err as { message?: unknown; code?: unknown };
  return { message: typeof e?.message === 'string' ? e.message : String(err), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
}

/** Request/reply over a worker's port (either side). */
export class ControlPort {
  #nextId = 1;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly #onMessage: (m: unknown) => void;
  #closed: Error | null = null;

  constructor(
    private readonly port: Port,
    serve: (op: string, args: unknown) => Promise<unknown> | unknown,
  ) {
    this.#onMessage = (m: unknown) => {
      const msg = m as Call | Reply;
      if (msg?.kind === 'reply') {
        const p = this.#pending.get(msg.id);
        if (!p) return;
        this.#pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new RemoteError(msg.error ?? { message: 'failed' }));
        return;
      }
      if (msg?.kind !== 'call') return;
      Promise.resolve()
        .then(() => serve(msg.op, msg.args))
        .then(
          (result) => this.#post({ kind: 'reply', id: msg.id, ok: true, result }),
          (err: unknown) => this.#post({ kind: 'reply', id: msg.id, ok: false, error: errorData(err) }),
        );
    };
    port.on('message', this.#onMessage);
  }

  #post(m: Call | Reply): void {
    if (this.#closed) return;
    try {
      this.port.postMessage(m);
    } catch {
      // the other side is gone; its calls fail through close()
    }
  }

  call<T = unknown>(op: string, args: unknown = null): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#post({ kind: 'call', id, op, args });
    });
  }

  /** Fails calls in flight (the other side exited). */
  close(why: Error): void {
    if (this.#closed) return;
    this.#closed = why;
    this.port.off('message', this.#onMessage);
    for (const p of this.#pending.values()) p.reject(why);
    this.#pending.clear();
  }
}
