import { describe, expect, it } from 'vitest';
import { consumerAssignments, listWorkloads, loadWorkload, parseWorkload, WorkloadError, type Workload } from '../../bench/workload.js';
import { planThreads } from '../../bench/driver.js';

const STANDARD = ['keyed-50-producers', 'latency-5k-1kib', 'max-throughput-100b', 'max-throughput-1kib', 'partitions-1000'];

function problems(text: string): string[] {
  try {
    parseWorkload(text, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(WorkloadError);
    return (err as WorkloadError).problems;
  }
  throw new Error('expected a WorkloadError');
}

describe('workload files', () => {
  it('ships the standard set, and every file validates', () => {
    expect(listWorkloads()).toEqual(expect.arrayContaining(STANDARD));
    for (const name of listWorkloads()) expect(loadWorkload(name).name).toBe(name);
  });

  it('the standard workloads say what the issue asks for', () => {
    const m = loadWorkload('max-throughput-1kib');
    expect([m.messageBytes, m.partitionsPerTopic, m.producers, m.consumers, m.rateMsgsPerSec, m.acks]).toEqual([1024, 6, 4, 4, null, 'all']);
    expect(loadWorkload('max-throughput-100b').messageBytes).toBe(100);
    const l = loadWorkload('latency-5k-1kib');
    expect([l.rateMsgsPerSec, l.messageBytes, l.partitionsPerTopic]).toEqual([5000, 1024, 1]);
    const p = loadWorkload('partitions-1000');
    expect([p.partitionsPerTopic, p.rateMsgsPerSec]).toEqual([1000, 20_000]);
    const k = loadWorkload('keyed-50-producers');
    expect(k.producers).toBe(50);
    expect(k.keys).not.toBe('none');
  });

  it('fills defaults and accepts JSON (which is YAML)', () => {
    const w = parseWorkload('{"name": "tiny", "rateMsgsPerSec": 100}', 'tiny.json');
    expect(w).toMatchObject({ name: 'tiny', topics: 1, partitionsPerTopic: 1, messageBytes: 1024, acks: 'all', keys: 'none', rateMsgsPerSec: 100, durationS: 10, warmupS: 2 });
  });

  it('reads acks as Kafka writes it: all, -1, 1, 0', () => {
    expect(parseWorkload('name: a\nacks: -1', 'x').acks).toBe('all');
    expect(parseWorkload('name: a\nacks: 1', 'x').acks).toBe('1');
    expect(parseWorkload('name: a\nacks: 0', 'x').acks).toBe('0');
  });

  it('lists every problem at once: unknown keys, wrong types, out-of-range values, bad enums', () => {
    const p = problems('name: Bad Name\npartitions: 3\nmessageBytes: 4\nproducers: 1.5\nrateMsgsPerSec: fast\nkeys: hashed\nacks: 2\n');
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/unknown key 'partitions'/),
        expect.stringMatching(/'name'/),
        expect.stringMatching(/'messageBytes' must be in 8\.\./),
        expect.stringMatching(/'producers' must be an integer/),
        expect.stringMatching(/'rateMsgsPerSec' must be a number or "max"/),
        expect.stringMatching(/'keys' must be/),
        expect.stringMatching(/'acks' must be/),
      ]),
    );
    expect(p).toHaveLength(7);
  });

  it('rejects a rate that leaves a producer with less than 1 msg/s, and documents that are not mappings', () => {
    expect(problems('name: a\nproducers: 10\nrateMsgsPerSec: 5')).toEqual([expect.stringMatching(/at least 1 msg\/s/)]);
    expect(problems('- 1\n- 2')).toEqual(['expected a mapping of settings']);
    expect(problems('name: [unclosed')).toHaveLength(1);
  });

  it('names the known workloads when one is not found', () => {
    expect(() => loadWorkload('no-such-workload')).toThrow(/known: .*max-throughput-1kib/);
  });
});

describe('assignments', () => {
  const w = (over: Partial<Workload>): Workload => ({ ...parseWorkload('name: a', 'x'), ...over });

  it('assigns partitions to consumers round robin; extra consumers get nothing', () => {
    expect(consumerAssignments(w({ partitionsPerTopic: 6, consumers: 4 })).map((a) => a.map((r) => r.partition))).toEqual([[0, 4], [1, 5], [2], [3]]);
    expect(consumerAssignments(w({ partitionsPerTopic: 2, consumers: 4 }))).toHaveLength(2);
    expect(consumerAssignments(w({ consumers: 0 }))).toEqual([]);
  });

  it('spreads producers and consumers over threads, and producers of one rate over time', () => {
    const plan = planThreads(w({ producers: 5, consumers: 3, partitionsPerTopic: 6, rateMsgsPerSec: 5000 }), 2, 2);
    expect(plan.producers.map((t) => t.map((p) => p.index))).toEqual([[0, 2, 4], [1, 3]]);
    expect(plan.producers.flat().every((p) => p.ratePerSec === 1000)).toBe(true);
    // 1,000 msg/s each = one per 1,000 µs; five producers interleave 200 µs apart.
    expect(plan.producers.flat().map((p) => p.phaseUs).sort((a, b) => a - b)).toEqual([0, 200, 400, 600, 800]);
    expect(plan.consumers.map((t) => t.length)).toEqual([2, 1]);
  });
});
