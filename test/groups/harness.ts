/**
 * Test harness for the group coordinator: fake time (timers fire only when the test advances the clock),
 * an in-memory offsets store, and helpers that build JoinGroup/SyncGroup inputs.
 */
import { GroupCoordinator, MemoryOffsetsStore, groupCoordinatorDefaults, type GroupCoordinatorConfig, type JoinGroupInput, type JoinResult, type TimerHandle, type Timers } from '../../src/groups/index.js';
import { encodeSubscription } from '../../src/groups/consumer-protocol.js';
import { buildRecordBatch } from '../../src/protocol/records.js';

export class FakeTimers implements Timers {
  private t = 1_700_000_000_000;
  private nextId = 1;
  private queue: { id: number; at: number; fn: () => void }[] = [];

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    this.queue.push({ id, at: this.t + Math.max(0, delayMs), fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.queue = this.queue.filter((e) => e.id !== handle.id);
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Moves time forward, firing due timers in order (and letting promises settle after each). */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (let i = 0; i < 100_000; i++) {
      await settle();
      this.queue.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.queue[0];
      if (next === undefined || next.at > target) break;
      this.queue.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = target;
    await settle();
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

export const silent = { info() {}, warn() {}, error() {} };

export interface Harness {
  coordinator: GroupCoordinator;
  store: MemoryOffsetsStore;
  timers: FakeTimers;
  topicExists: { value: boolean };
}

export function makeCoordinator(config: Partial<GroupCoordinatorConfig> = {}, shared?: { store?: MemoryOffsetsStore; timers?: FakeTimers; topicExists?: boolean; owned?: number[] }): Harness {
  const store = shared?.store ?? new MemoryOffsetsStore();
  const timers = shared?.timers ?? new FakeTimers();
  const topicExists = { value: shared?.topicExists ?? false };
  const coordinator = new GroupCoordinator({
    config: { ...groupCoordinatorDefaults, groupInitialRebalanceDelayMs: 0, offsetsTopicPartitions: 4, ...config },
    store,
    timers,
    logger: silent,
    ...(shared?.owned ? { ownedPartitions: shared.owned } : {}),
    offsetsTopic: {
      exists: () => topicExists.value,
      create: async () => {
        topicExists.value = true;
      },
    },
  });
  coordinator.start();
  return { coordinator, store, timers, topicExists };
}

export function join(groupId: string, o: Partial<JoinGroupInput> & { topics?: string[] } = {}): JoinGroupInput {
  const metadata = encodeSubscription(o.topics ?? ['t']);
  return {
    groupId,
    memberId: '',
    groupInstanceId: null,
    requireKnownMemberId: false,
    supportsSkipAssignment: false,
    clientId: 'client',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata }],
    ...o,
  };
}

/** Joins `n` members at once and completes the join phase; returns their results (first = leader). */
export async function joinAll(h: Harness, groupId: string, reqs: JoinGroupInput[]): Promise<JoinResult[]> {
  const pending = reqs.map((r) => h.coordinator.joinGroup(r));
  await h.timers.advance(h.coordinator.config.groupInitialRebalanceDelayMs + 1);
  return Promise.all(pending);
}

/**
 * A COMMIT/ABORT control batch as the partition side writes it to end a transaction (key: version 0, type 1
 * commit / 0 abort; value: version 0, coordinator epoch 0), for replay tests that put markers in the log.
 */
export function markerBatch(producerId: number, producerEpoch: number, commit: boolean): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(commit ? 1 : 0, 2);
  const value = Buffer.alloc(6);
  return buildRecordBatch([{ key, value }], { producerId, producerEpoch, baseSequence: -1, transactional: true, control: true });
}
