// The `tern` command as a user runs it (node bin/tern.js ...), against a real broker process.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT, runCli, startBroker, TERN_BIN, type RunningBroker } from '../helpers/broker.js';

let broker: RunningBroker;
let B: string[];

beforeAll(async () => {
  broker = await startBroker();
  B = ['--brokers', broker.brokers];
});

afterAll(async () => {
  await broker?.stop();
});

async function tern(args: string[], input?: string) {
  return runCli([...args, ...B], input === undefined ? {} : { input });
}

function expectNoStack(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe('tern topic', () => {
  it('creates a topic', async () => {
    const r = await tern(['topic', 'create', 'events', '-p', '3', '-c', 'retention.ms=3600000']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe("Created topic 'events' with 3 partitions (replication factor 1).\n");
  });

  it('reports TOPIC_ALREADY_EXISTS as one error line with exit code 1', async () => {
    const r = await tern(['topic', 'create', 'events']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: TOPIC_ALREADY_EXISTS: .*events.*\n$/);
    expectNoStack(r.stderr);
  });

  it('validates without creating (--dry-run)', async () => {
    const r = await tern(['topic', 'create', 'dry', '-p', '2', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dry run/);
    const list = await tern(['topic', 'list']);
    expect(list.stdout).not.toMatch(/^dry\s/m);
  });

  it('lists topics as an aligned table', async () => {
    await tern(['topic', 'create', 'a-much-longer-topic-name']);
    const r = await tern(['topic', 'list']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+PARTITIONS\s+REPLICAS$/);
    expect(lines).toContainEqual(expect.stringMatching(/^events\s+3\s+1$/));
    // the PARTITIONS column starts at the same place on every line
    const col = lines[0]!.indexOf('PARTITIONS');
    for (const l of lines.slice(1)) expect(l[col - 1]).toBe(' ');
  });

  it('changes configs and shows them in describe', async () => {
    const r = await tern(['topic', 'alter-config', 'events', '--set', 'retention.bytes=1048576', '--delete', 'retention.ms']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const d = await tern(['topic', 'describe', 'events']);
    expect(d.stdout).toMatch(/^retention\.bytes\s+1048576\s+DYNAMIC_TOPIC_CONFIG$/m);
    expect(d.stdout).toMatch(/^retention\.ms\s+\d+\s+DEFAULT_CONFIG$/m);
  });

  it('refuses an invalid config value', async () => {
    const r = await tern(['topic', 'alter-config', 'events', '--set', 'retention.ms=soon']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: INVALID_CONFIG: /);
  });

  it('adds partitions', async () => {
    const r = await tern(['topic', 'add-partitions', 'events', '-n', '2']);
    expect(r.stdout).toBe("Topic 'events' now has 5 partitions (+2).\n");
    const d = await tern(['topic', 'describe', 'events']);
    expect(d.stdout).toMatch(/^PARTITIONS\s+5$/m);
  });

  it('describes partitions with leaders and offsets', async () => {
    await tern(['produce', 'events', '-p', '1'], 'a\nb\nc\n');
    const d = await tern(['topic', 'describe', 'events']);
    expect(d.code).toBe(0);
    for (const s of ['SUMMARY', 'CONFIGS', 'PARTITIONS']) expect(d.stdout).toContain(`${s}\n${'='.repeat(s.length)}\n`);
    expect(d.stdout).toMatch(/^PARTITION\s+LEADER\s+EPOCH\s+REPLICAS\s+ISR\s+LOG-START-OFFSET\s+HIGH-WATERMARK/m);
    expect(d.stdout).toMatch(/^1\s+0\s+\d+\s+\[0\]\s+\[0\]\s+0\s+3$/m);
  });

  it('trims a partition prefix', async () => {
    const r = await tern(['topic', 'trim-prefix', 'events', '-p', '1', '-o', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^PARTITION\s+NEW-START-OFFSET\n1\s+2\n$/);
    const c = await tern(['consume', 'events', '-p', '1', '-e']);
    expect(c.stdout).toBe('c\n');
  });

  it('deletes topics, and describing one that is gone fails', async () => {
    expect((await tern(['topic', 'delete', 'a-much-longer-topic-name'])).stdout).toBe("Deleted topic 'a-much-longer-topic-name'.\n");
    const d = await tern(['topic', 'describe', 'a-much-longer-topic-name']);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/^error: UNKNOWN_TOPIC_OR_PARTITION: /);
    expectNoStack(d.stderr);
  });
});

describe('tern produce / consume', () => {
  beforeAll(async () => {
    await tern(['topic', 'create', 'log', '-p', '2']);
  });

  it('produces lines with keys, headers and compression; consumes them as JSON', async () => {
    const p = await tern(['produce', 'log', '-p', '0', '-k', ':', '-H', 'src=test', '-H', 'v=1', '-z', 'zstd'], 'user1:login\nuser2:logout\n\nno-key-here\n');
    expect(p).toMatchObject({ code: 0, stderr: '' });
    expect(p.stdout).toBe("Produced 3 records to topic 'log' (partition 0).\n");
    const c = await tern(['consume', 'log', '-p', '0', '-n', '3', '-f', 'json']);
    expect(c.code).toBe(0);
    const recs = c.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs.map((r) => [r['offset'], r['key'], r['value']])).toEqual([
      [0, 'user1', 'login'],
      [1, 'user2', 'logout'],
      [2, null, 'no-key-here'],
    ]);
    expect(recs[0]).toMatchObject({ topic: 'log', partition: 0, headers: [{ key: 'src', value: 'test' }, { key: 'v', value: '1' }] });
    expect(Math.abs((recs[0]!['timestamp'] as number) - Date.now())).toBeLessThan(60_000);
  });

  for (const codec of ['gzip', 'snappy', 'lz4', 'none']) {
    it(`round-trips ${codec}, printing offsets with -v`, async () => {
      const p = await tern(['produce', 'log', '-p', '1', '-z', codec, '-v'], 'x\ny\n');
      expect(p.code).toBe(0);
      expect(p.stdout).toMatch(/^log\/1@(\d+)\nlog\/1@\d+\n$/);
      const first = Number(/@(\d+)/.exec(p.stdout)![1]);
      const c = await tern(['consume', 'log', '-p', '1', '-o', String(first), '-n', '2']);
      expect(c.stdout).toBe('x\ny\n');
    });
  }

  it('routes keyed records by murmur2 and prints KEY<sep>VALUE', async () => {
    await tern(['topic', 'create', 'keyed', '-p', '4']);
    const lines = Array.from({ length: 40 }, (_, i) => `key${i % 5}=v${i}`).join('\n');
    await tern(['produce', 'keyed', '-k', '='], lines);
    const c = await tern(['consume', 'keyed', '-e', '-f', 'json']);
    const recs = c.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { key: string; partition: number });
    expect(recs.length).toBe(40);
    const partitionOf = new Map<string, number>();
    for (const r of recs) {
      expect(partitionOf.get(r.key) ?? r.partition).toBe(r.partition);
      partitionOf.set(r.key, r.partition);
    }
    const plain = await tern(['consume', 'keyed', '-e', '-k', '=', '-p', String(recs[0]!.partition)]);
    expect(plain.stdout.split('\n')[0]).toMatch(/^key\d=v\d+$/);
  });

  it('starts at end, at an offset, or at a timestamp', async () => {
    await tern(['topic', 'create', 'clock']);
    await tern(['produce', 'clock'], 'early\n');
    await new Promise((r) => setTimeout(r, 50));
    const t = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    await tern(['produce', 'clock'], 'late\n');
    expect((await tern(['consume', 'clock', '-o', 'end', '-e'])).stdout).toBe('');
    expect((await tern(['consume', 'clock', '-o', '1', '-e'])).stdout).toBe('late\n');
    expect((await tern(['consume', 'clock', '-o', `@${t}`, '-e'])).stdout).toBe('late\n');
    expect((await tern(['consume', 'clock', '-o', `@${t + 3_600_000}`, '-e'])).stdout).toBe('');
    expect((await tern(['consume', 'clock', '-e'])).stdout).toBe('early\nlate\n');
  });

  it('follows a topic until interrupted', async () => {
    await tern(['topic', 'create', 'live']);
    const proc = spawn(process.execPath, [TERN_BIN, 'consume', 'live', ...B], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    await new Promise((r) => setTimeout(r, 1000));
    await tern(['produce', 'live'], 'hello\n');
    const deadline = Date.now() + 10_000;
    while (!out.includes('hello') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(out).toBe('hello\n');
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('fails clearly for a missing topic or partition', async () => {
    const p = await tern(['produce', 'missing'], 'x\n');
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/^error: UNKNOWN_TOPIC_OR_PARTITION: /);
    const c = await tern(['consume', 'log', '-p', '9', '-e']);
    expect(c.code).toBe(1);
    expect(c.stderr).toBe("error: topic 'log' has no partition 9\n");
  });

  it('reports an empty input', async () => {
    const p = await tern(['produce', 'log'], '');
    expect(p).toMatchObject({ code: 0, stdout: 'No records produced (empty input).\n' });
  });
});

describe('tern cluster info', () => {
  it('shows the cluster id, the controller and the broker', async () => {
    const r = await tern(['cluster', 'info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^CLUSTER ID\s+\S+$/m);
    expect(r.stdout).toMatch(/^CONTROLLER\s+0$/m);
    expect(r.stdout).toMatch(new RegExp(`^0\\*\\s+127\\.0\\.0\\.1\\s+${broker.port}$`, 'm'));
  });

  it('takes the brokers from TERN_BROKERS', async () => {
    const r = await runCli(['cluster', 'info'], { env: { TERN_BROKERS: broker.brokers } });
    expect(r.code).toBe(0);
  });
});

describe('errors and usage', () => {
  it('a refused connection is one line, exit code 1', async () => {
    const port = await freePort();
    const r = await runCli(['topic', 'list', '--brokers', `127.0.0.1:${port}`]);
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: `error: cannot connect to 127.0.0.1:${port}: connection refused\n` });
  });

  it('usage errors exit 1 with a hint', async () => {
    const r = await runCli(['topic', 'create']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing required argument 'names'/);
    const bad = await runCli(['topic', 'create', 'x', '-p', 'many', ...B]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/expected an integer/);
    const codec = await runCli(['produce', 't', '-z', 'brotli']);
    expect(codec.code).toBe(1);
    expect(codec.stderr).toMatch(/Allowed choices are none, gzip, snappy, lz4, zstd/);
  });

  it('help and version exit 0', async () => {
    const h = await runCli(['start', '--help']);
    expect(h.code).toBe(0);
    for (const s of ['--listen', '--advertise', '--data-dir', '--node-id', '--log-level', '--config', 'Examples:']) expect(h.stdout).toContain(s);
    expect((await runCli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

describe('tern start', () => {
  it('takes settings from a YAML config file, with flags winning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tern-cli-'));
    try {
      const filePort = await freePort();
      const flagPort = await freePort();
      const file = join(dir, 'tern.yaml');
      writeFileSync(file, `listen: 127.0.0.1:${filePort}\ndata-dir: ${join(dir, 'data')}\nlog-level: error\nnode-id: 0\n`);
      // the file's port, then a flag overriding it
      for (const [extra, port] of [[[], filePort], [['--listen', `127.0.0.1:${flagPort}`], flagPort]] as const) {
        const proc = spawn(process.execPath, [TERN_BIN, 'start', '--config', file, ...extra], { cwd: REPO_ROOT, stdio: 'ignore' });
        const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
        try {
          const deadline = Date.now() + 15_000;
          let up = false;
          while (!up && Date.now() < deadline) {
            up = (await runCli(['cluster', 'info', '--brokers', `127.0.0.1:${port}`])).code === 0;
            if (!up) await new Promise((r) => setTimeout(r, 100));
          }
          expect(up).toBe(true);
        } finally {
          proc.kill('SIGTERM');
          expect(await exited).toBe(0);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a bad config file without starting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tern-cli-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, 'listen: 127.0.0.1:1\nflux-capacitor: on\n');
      const r = await runCli(['start', '--config', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: config file .*unknown setting 'flux-capacitor'/);
      const missing = await runCli(['start', '--config', join(dir, 'nope.yaml')]);
      expect(missing.stderr).toMatch(/^error: cannot read config file .*ENOENT/);
      const badFlag = await runCli(['start', '--node-id', '-3', '--data-dir', join(dir, 'd')]);
      expect(badFlag.stderr).toMatch(/^error: node-id must be an integer/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
