import { describe, expect, it } from 'vitest';
import { bytesPerPartition, cell, loadText, localAndCross, parseIntList, parseSections, partitionsPerShard, threadCpuDelta } from '../../bench/shards-figures.js';

describe('parseSections', () => {
  it('runs every section but the 16-core curve by default', () => {
    expect(parseSections(undefined)).toEqual(['throughput', 'crossing', 'hop', 'memory']);
    expect(parseSections(' ')).toEqual(['throughput', 'crossing', 'hop', 'memory']);
  });

  it('keeps the fixed order whatever order they are named in', () => {
    expect(parseSections('memory,hop')).toEqual(['hop', 'memory']);
    expect(parseSections('curve')).toEqual(['curve']);
  });

  it('rejects an unknown section, naming the known ones', () => {
    expect(() => parseSections('hop,latency')).toThrow(/unknown section 'latency' \(known: throughput, crossing, hop, memory, curve\)/);
  });
});

describe('parseIntList', () => {
  it('parses positive integers and rejects anything else', () => {
    expect(parseIntList('1,2, 4', '--smp')).toEqual([1, 2, 4]);
    expect(() => parseIntList('1,0', '--smp')).toThrow(/--smp must be positive integers/);
    expect(() => parseIntList('1,x', '--smp')).toThrow();
    expect(() => parseIntList('1.5', '--smp')).toThrow();
  });
});

describe('threadCpuDelta', () => {
  const snap = (entries: [number, string, number][]): Map<number, { name: string; seconds: number }> => new Map(entries.map(([tid, name, seconds]) => [tid, { name, seconds }]));

  it('gives cores per thread over the interval, busiest first, dropping idle threads', () => {
    const before = snap([
      [10, 'node', 1.0],
      [11, 'shard0', 2.0],
      [12, 'shard1', 3.0],
      [13, 'libuv-worker', 0.5],
    ]);
    const after = snap([
      [10, 'node', 1.1],
      [11, 'shard0', 10.0],
      [12, 'shard1', 7.0],
      [13, 'libuv-worker', 0.51],
    ]);
    expect(threadCpuDelta(before, after, 10, 0.005)).toEqual([
      { tid: 11, name: 'shard0', cores: 0.8, waitCores: 0 },
      { tid: 12, name: 'shard1', cores: 0.4, waitCores: 0 },
      { tid: 10, name: 'node', cores: expect.closeTo(0.01, 6) as number, waitCores: 0 },
    ]);
  });

  it('gives the run-queue wait per wall second beside the CPU', () => {
    const before = new Map([[11, { name: 'shard0', seconds: 1, waitSeconds: 2 }]]);
    const after = new Map([[11, { name: 'shard0', seconds: 3, waitSeconds: 5 }]]);
    expect(threadCpuDelta(before, after, 4)).toEqual([{ tid: 11, name: 'shard0', cores: 0.5, waitCores: 0.75 }]);
  });

  it('counts a thread born during the interval from zero, and refuses a zero interval', () => {
    expect(threadCpuDelta(snap([]), snap([[20, 'new', 3]]), 2)).toEqual([{ tid: 20, name: 'new', cores: 1.5, waitCores: 0 }]);
    expect(() => threadCpuDelta(snap([]), snap([]), 0)).toThrow(RangeError);
  });
});

describe('localAndCross', () => {
  it('takes the partition with the lower median as the local one', () => {
    expect(localAndCross([900, 1100])).toEqual([0, 1]);
    expect(localAndCross([1100, 900])).toEqual([1, 0]);
    expect(localAndCross([1000, 1000])).toEqual([0, 1]);
  });
});

describe('bytesPerPartition', () => {
  it('divides the growth by the partition count', () => {
    expect(bytesPerPartition(100 * 2 ** 20, 100 * 2 ** 20 + 10_000 * 32 * 1024, 10_000)).toBe(32 * 1024);
    expect(() => bytesPerPartition(0, 1, 0)).toThrow(RangeError);
  });
});

describe('cell', () => {
  it('prints the median with the range of the repeats', () => {
    expect(cell([3, 1, 2])).toBe('2 (1–3)');
    expect(cell([1234.56, 1000], 1)).toBe('1,117.3 (1,000.0–1,234.6)');
  });

  it('prints one value alone, equal values once, and n/a when nothing finite was measured', () => {
    expect(cell([5])).toBe('5');
    expect(cell([5, 5])).toBe('5');
    expect(cell([NaN])).toBe('n/a');
    expect(cell([])).toBe('n/a');
  });
});

describe('loadText and partitionsPerShard', () => {
  it('formats load averages as uptime does', () => {
    expect(loadText([3.571, 2.7, 2.3, 9])).toBe('3.57 2.70 2.30');
  });

  it('counts partitions per shard from the persisted table, ignoring owners out of range', () => {
    expect(partitionsPerShard({ 'a-0': 0, 'a-1': 1, 'b-0': 0, 'c-0': 7 }, 2)).toEqual([2, 1]);
  });
});
