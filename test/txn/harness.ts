/**
 * Test harness for the transaction coordinator: fake time (the group tests' FakeTimers), an in-memory state
 * store (the group side's MemoryOffsetsStore: it keys by partition only), an in-memory MarkerWriter that records
 * every marker and can fail or hold partitions, an in-memory producer id source, and a counter for the
 * delayed-request clock. For the tests against an in-process broker: the batch headers stored in a partition,
 * and DescribeTransactions over the wire.
 */
import { MemoryOffsetsStore } from '../../src/groups/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { batchPayload, iterateRecords, readBatchHeader } from '../../src/protocol/records.js';
import {
  TxnCoordinator,
  decodeTxnKey,
  decodeTxnValue,
  txnCoordinatorSettingsDefaults,
  type MarkerOutcome,
  type MarkerWriter,
  type ProducerIdSource,
  type TopicPartition,
  type TxnCoordinatorSettings,
  type TxnLogValue,
  type TxnMarker,
} from '../../src/txn/index.js';
import { ApiKey } from '../../src/protocol/messages/index.js';
import { FakeTimers, silent } from '../groups/harness.js';
import type { TestBroker, WireClient } from '../kafka/helpers.js';

export { FakeTimers, settle } from '../groups/harness.js';

export interface MarkerCall {
  partitions: TopicPartition[];
  marker: TxnMarker;
}

/** Records markers; `fail(tp, code, times)` answers that partition with `code` the next `times` calls; `hold()` delays answers. */
export class FakeMarkers implements MarkerWriter {
  readonly calls: MarkerCall[] = [];
  private failures = new Map<string, { code: number; times: number }>();
  private held: (() => void)[] | null = null;

  fail(topic: string, partition: number, code: number, times = 1): void {
    this.failures.set(`${topic}-${partition}`, { code, times });
  }

  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const h = this.held ?? [];
    this.held = null;
    for (const r of h) r();
  }

  async writeMarkers(partitions: readonly TopicPartition[], marker: TxnMarker): Promise<MarkerOutcome[]> {
    this.calls.push({ partitions: partitions.map((p) => ({ ...p })), marker: { ...marker } });
    if (this.held !== null) {
      const held = this.held;
      await new Promise<void>((r) => held.push(r));
    }
    return partitions.map((tp) => {
      const f = this.failures.get(`${tp.topic}-${tp.partition}`);
      if (f && f.times > 0) {
        f.times--;
        return { ...tp, errorCode: f.code };
      }
      return { ...tp, errorCode: ErrorCode.NONE };
    });
  }

  /** Partitions that got a marker written (successfully or not), per call, as "topic-p". */
  written(): string[][] {
    return this.calls.map((c) => c.partitions.map((p) => `${p.topic}-${p.partition}`));
  }
}

export class CountingIds implements ProducerIdSource {
  next = 1000;
  async allocate(): Promise<number> {
    return this.next++;
  }
}

export interface TxnHarness {
  coordinator: TxnCoordinator;
  store: MemoryOffsetsStore;
  timers: FakeTimers;
  markers: FakeMarkers;
  ids: CountingIds;
  clock: { us: number };
  topicExists: { value: boolean };
  /** Partitions that no longer exist ("topic-p"). */
  deleted: Set<string>;
}

export const PARTITIONS = 4;

export function makeTxnCoordinator(
  config: Partial<TxnCoordinatorSettings> = {},
  shared: Partial<Pick<TxnHarness, 'store' | 'timers' | 'markers' | 'ids' | 'clock'>> & { topicExists?: boolean; owned?: number[] } = {},
): TxnHarness {
  const store = shared.store ?? new MemoryOffsetsStore();
  const timers = shared.timers ?? new FakeTimers();
  const markers = shared.markers ?? new FakeMarkers();
  const ids = shared.ids ?? new CountingIds();
  const clock = shared.clock ?? { us: 1 };
  const topicExists = { value: shared.topicExists ?? false };
  const deleted = new Set<string>();
  const coordinator = new TxnCoordinator({
    config: { ...txnCoordinatorSettingsDefaults, transactionStateTopicPartitions: PARTITIONS, offsetsTopicPartitions: 3, ...config },
    store,
    markers,
    producerIds: ids,
    timers,
    logger: silent,
    ...(shared.owned ? { ownedPartitions: shared.owned } : {}),
    stateTopic: {
      exists: () => topicExists.value,
      create: async () => {
        topicExists.value = true;
      },
    },
    partitionExists: (t, p) => !deleted.has(`${t}-${p}`),
    monoUs: () => clock.us++,
  });
  coordinator.start();
  return { coordinator, store, timers, markers, ids, clock, topicExists, deleted };
}

/** Every (transactionalId, value|null) the store holds, in order. */
export function storedRecords(store: MemoryOffsetsStore): { id: string; partition: number; value: TxnLogValue | null }[] {
  const out: { id: string; partition: number; value: TxnLogValue | null }[] = [];
  for (const [partition, batches] of store.partitions) {
    for (const b of batches) {
      const h = readBatchHeader(b, 0);
      for (const r of iterateRecords(batchPayload(b, 0, h), h)) {
        out.push({ id: decodeTxnKey(r.key!)!, partition, value: r.value === null ? null : decodeTxnValue(r.value) });
      }
    }
  }
  return out;
}

/** Every batch header stored in the partition of an in-process broker, in offset order (the first MiB). */
export async function storedHeaders(tb: TestBroker, topic: string, partition: number): Promise<ReturnType<typeof readBatchHeader>[]> {
  const log = tb.broker.partitionLog(topic, partition)!;
  const res = await log.read(0, 1024 * 1024, { minOneBatch: true });
  if (!res.ok) return [];
  const bytes = Buffer.concat(res.records);
  const out: ReturnType<typeof readBatchHeader>[] = [];
  for (let pos = 0; pos + 61 <= bytes.length; ) {
    const h = readBatchHeader(bytes, pos);
    out.push(h);
    pos += 12 + h.batchLength;
  }
  return out;
}

/** DescribeTransactions v0 for one transactional id. */
export async function describeTxn(c: WireClient, id: string): Promise<{ errorCode: number; transactionState: string; producerId: number; producerEpoch: number; topics: { topic: string; partitions: number[] }[] }> {
  return (await c.request(ApiKey.DescribeTransactions, 0, { transactionalIds: [id] })).transactionStates[0];
}
