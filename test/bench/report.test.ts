import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../bench/driver.js';
import { renderCharts, renderMarkdown, replaceSection, SECTION_BEGIN, SECTION_END } from '../../bench/report.js';
import { aggregate } from '../../bench/stats.js';
import type { SuiteResult, TargetOutcome } from '../../bench/suite.js';
import { formatUs, latencyChart, linearTicks, logTicks, timeSeriesChart } from '../../bench/svg.js';
import { parseWorkload } from '../../bench/workload.js';

const lat = (scale: number) => ({ count: 100, meanUs: 10 * scale, p50Us: 10 * scale, p99Us: 100 * scale, p999Us: 200 * scale, p9999Us: 300 * scale, maxUs: 400 * scale });

function run(id: string, msgs: number, scale: number): RunResult {
  return {
    target: { id, label: `${id} 1.0`, durability: `${id} durability` },
    workload: 'w',
    publishMsgsPerSec: msgs,
    publishMBps: msgs / 1000,
    consumeMsgsPerSec: msgs,
    consumeMBps: msgs / 1000,
    publishLatency: lat(scale),
    e2eLatency: lat(scale * 2),
    ackedPerSec: [msgs, msgs],
    receivedPerSec: [msgs, msgs],
    ackedTotal: msgs * 2,
    receivedTotal: msgs * 2,
    failedMessages: 0,
    clampedLatencies: 0,
    drainTimedOut: false,
    errors: [],
    startedAt: '2026-01-01T00:00:00Z',
    serverCores: 1.2,
    loadGeneratorCores: 0.7,
  };
}

function outcome(id: string, runs: RunResult[]): TargetOutcome {
  return { target: runs[0]!.target, runs, failures: [], aggregate: aggregate(runs) };
}

const suite: SuiteResult = {
  date: '2026-01-01T00:00:00Z',
  wallS: 600,
  machine: { description: '2 x CPU', cpus: 2, cpuModel: 'CPU', memoryGiB: 24, kernel: 'Linux', node: 'v20', filesystem: 'ext4 on /dev/vda' },
  loadAverage: [5.1, 3],
  limits: { disk: { seqWriteMBps: 1000, fdatasyncP50Us: 150, fdatasyncP99Us: 400, fdatasyncP999Us: 1000, syncedWritesPerSec: 5000 }, loopbackMBps: 2000 },
  loadGenerator: { producerThreads: 2, consumerThreads: 2, note: 'shared cores' },
  repeats: 2,
  workloads: [
    {
      workload: { ...parseWorkload('name: w\nrateMsgsPerSec: 5000\ndescription: a test workload', 'w'), name: 'w' },
      targets: [outcome('tern', [run('tern', 1000, 1), run('tern', 3000, 1)]), outcome('redis-always', [run('redis-always', 1000, 2), run('redis-always', 1000, 2)])],
    },
  ],
  unavailable: [{ target: 'rabbitmq', why: 'rabbitmq: does not start here' }],
};

describe('report', () => {
  it('renders medians with their range, ratios to Tern, durability, machine limits and unavailable targets', () => {
    const md = renderMarkdown(suite, { command: 'npm run bench', chartsDir: 'bench' });
    expect(md).toContain('| tern | 2,000 (1,000–3,000) ⚠ | 2.0 | 1.00x |');
    expect(md).toContain('| redis-always | 1,000 (1,000–1,000) | 1.0 | 0.50x |');
    expect(md).toContain('| redis-always | redis-always 1.0 |');
    expect(md).toContain('redis-always durability');
    expect(md).toContain('| rabbitmq | not run | rabbitmq: does not start here |');
    expect(md).toContain('1,000.0 MB/s');
    expect(md).toContain('150 / 400 / 1,000 µs');
    expect(md).toContain("Publish p99 relative to Tern's: tern 1.00x, redis-always 2.00x");
    expect(md).toContain('Tern publish p99 / fio fdatasync p99 = 0.3x');
    expect(md).toContain('1.20 + 0.70');
    expect(md).toContain('![w latency](bench/w-latency.svg)');
    expect(md).toContain('load average 5.1 at the start, 3.0 at the end of the run (above the 2 cores');
  });

  it('replaces its own section and keeps the rest of the document', () => {
    const doc = '# Benchmarks\n\nbaseline text\n';
    const once = replaceSection(doc, 'first');
    expect(once).toBe(`# Benchmarks\n\nbaseline text\n\n${SECTION_BEGIN}\nfirst\n${SECTION_END}\n`);
    const twice = replaceSection(`${once}\nafter\n`, 'second');
    expect(twice).toContain('baseline text');
    expect(twice).toContain('second');
    expect(twice).not.toContain('first');
    expect(twice).toContain('after');
  });

  it('charts every target with data: solid publish and dashed end-to-end lines, one throughput line each', () => {
    const { latency, throughput } = renderCharts(suite.workloads[0]!);
    expect(latency.startsWith('<svg')).toBe(true);
    expect(latency.match(/<polyline /g)).toHaveLength(4);
    expect(latency.match(/stroke-dasharray/g)).toHaveLength(4); // 2 dashed lines + 2 dashed legend keys
    expect(throughput.match(/<polyline /g)).toHaveLength(2);
    expect(throughput).toContain('warm-up');
  });
});

describe('svg', () => {
  it('log ticks cover the range by powers of ten; linear ticks are round', () => {
    expect(logTicks(150, 42_000)).toEqual([100, 1000, 10_000, 100_000]);
    expect(linearTicks(93)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(linearTicks(0)).toEqual([0, 1]);
  });

  it('formats microseconds for people', () => {
    expect(formatUs(250)).toBe('250 µs');
    expect(formatUs(1500)).toBe('1.5 ms');
    expect(formatUs(2_500_000)).toBe('2.5 s');
  });

  it('escapes labels and skips points without data', () => {
    const svg = latencyChart('a <b> & c', ['p50', 'p99'], [{ label: 'x"y', color: '#000', values: [0, 100] }]);
    expect(svg).toContain('a &lt;b&gt; &amp; c');
    expect(svg).toContain('x&quot;y');
    expect(svg.match(/<circle/g)).toHaveLength(1);
    expect(timeSeriesChart('t', 'msg/s', [{ label: 'e', color: '#000', values: [] }], 2)).not.toContain('<polyline');
  });
});
