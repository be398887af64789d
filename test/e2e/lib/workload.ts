/**
 * An acks=all producer that remembers exactly what the broker acknowledged, for crash and fault tests.
 *
 * Several connections each pipeline Produce v3 requests (a few in flight, one batch of 1..4 records each) over
 * all partitions. Every record value is unique (`<run>/<conn>/<seq>/<i>` plus padding). An acknowledgement
 * (error 0, base offset B) records each record of the batch at B+i. When the broker dies the outstanding
 * requests fail; those records are "unknown" (may or may not be stored) and are not held against the broker.
 */
import { expect } from 'vitest';
import { encodeBatch } from './records.js';
import { WireClient } from './wire.js';
import { mulberry32 } from '../../../src/io/index.js';

export interface Acked {
  partition: number;
  offset: number;
  value: string;
  conn: number;
  seq: number;
}

/** Seeded PRNG (the simulated disk's mulberry32): the same seed gives the same workload and fault choices. */
export const prng = mulberry32;

export interface WorkloadOptions {
  port: number;
  topic: string;
  partitions: number;
  connections: number;
  inflightPerConnection: number;
  runTag: string;
  seed: number;
  /** Called after every acknowledgement with the running count (to trigger a crash). */
  onAck?: (count: number) => void;
}

export class AckedWorkload {
  readonly acked: Acked[] = [];
  readonly errors: string[] = [];
  /** Produce errors returned by the broker (non-zero error codes), by code. */
  readonly errorCodes = new Map<number, number>();
  sent = 0;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private clients: WireClient[] = [];

  constructor(private readonly o: WorkloadOptions) {}

  async start(): Promise<void> {
    for (let c = 0; c < this.o.connections; c++) this.clients.push(await WireClient.connect(this.o.port, `acked-${c}`));
    this.loops = this.clients.map((client, c) => this.loop(client, c));
  }

  private async loop(client: WireClient, conn: number): Promise<void> {
    const rnd = prng(this.o.seed * 31 + conn);
    let seq = 0;
    const inflight = new Set<Promise<void>>();
    while (!this.stopping) {
      while (inflight.size < this.o.inflightPerConnection && !this.stopping) {
        const s = seq++;
        const partition = (conn + s) % this.o.partitions;
        const n = 1 + Math.floor(rnd() * 4);
        const values: string[] = [];
        for (let i = 0; i < n; i++) {
          const pad = 'x'.repeat(Math.floor(rnd() * 2000));
          values.push(`${this.o.runTag}/${conn}/${s}/${i}/${pad}`);
        }
        const batch = encodeBatch(values.map((v, i) => ({ key: Buffer.from(`k${conn}-${s}-${i}`), value: Buffer.from(v) })));
        this.sent += n;
        const p: Promise<void> = client
          .produce(this.o.topic, partition, batch, -1, 10_000)
          .then(
            (res) => {
              if (res.errorCode !== 0) {
                this.errorCodes.set(res.errorCode, (this.errorCodes.get(res.errorCode) ?? 0) + 1);
                return;
              }
              values.forEach((value, i) => this.acked.push({ partition, offset: res.baseOffset + i, value, conn, seq: s }));
              this.o.onAck?.(this.acked.length);
            },
            (err: Error) => {
              this.errors.push(err.message);
              this.stopping = this.stopping || /closed|socket/.test(err.message);
            },
          )
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
      if (inflight.size > 0) await Promise.race(inflight);
    }
    await Promise.allSettled([...inflight]);
  }

  /** Stops sending, waits for outstanding requests to settle (or fail on a dead socket), closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled(this.loops);
    for (const c of this.clients) c.close();
  }
}

/**
 * Checks one partition read back after a crash: offsets dense from 0, no value twice, and every acknowledged
 * record of `partition` at its acknowledged offset. `diagnose` adds the broker's recent output to failures.
 */
export function expectAcknowledgedPresent(
  what: string,
  partition: number,
  records: readonly { offset: number; value: Buffer | null }[],
  acked: readonly Acked[],
  diagnose: () => string,
): void {
  const values = new Map<number, string>();
  records.forEach((r, i) => {
    expect(r.offset, `${what}: partition ${partition} offsets must be dense from 0 (record ${i})`).toBe(i);
    values.set(r.offset, r.value!.toString('utf8'));
  });
  expect(new Set(values.values()).size, `${what}: partition ${partition} holds a value twice`).toBe(values.size);
  const mine = acked.filter((a) => a.partition === partition);
  const missing = mine.filter((a) => values.get(a.offset) !== a.value);
  expect(
    missing.length,
    `${what}: partition ${partition}: ${missing.length} of ${mine.length} acknowledged records lost or moved, first: ` +
      missing
        .slice(0, 3)
        .map((a) => `offset ${a.offset} want ${a.value.slice(0, 30)} got ${values.get(a.offset)?.slice(0, 30) ?? 'nothing'}`)
        .join('; ') +
      diagnose(),
  ).toBe(0);
}

/**
 * Reads every partition of `topic` back through the broker on `port` and checks each one with
 * `expectAcknowledgedPresent`; returns each partition's record count (its end offset).
 */
export async function verifyAcknowledged(
  port: number,
  topic: string,
  partitions: number,
  acked: readonly Acked[],
  what: string,
  diagnose: () => string,
): Promise<number[]> {
  const c = await WireClient.connect(port);
  const ends: number[] = [];
  try {
    for (let p = 0; p < partitions; p++) {
      const records = await c.fetchAll(topic, p, 0);
      expectAcknowledgedPresent(what, p, records, acked, diagnose);
      ends.push(records.length);
    }
  } finally {
    c.close();
  }
  return ends;
}
