/**
 * `tern bench [WORKLOAD...]`: runs benchmark workloads (bench/workloads/*.yaml, or a file) against Tern and
 * peers, each started fresh on loopback, and prints a Markdown table; `--report FILE` also writes charts and
 * the results section of FILE (what `npm run bench` does for docs/benchmarks.md). The suite itself lives in
 * bench/ and is loaded only when this command runs.
 */
import { Command } from 'commander';
import { intArg } from './common.js';
import { CliError, write } from './output.js';

interface BenchFlags {
  target?: string;
  repeats: number;
  durationS?: number;
  warmupS?: number;
  dir?: string;
  producerThreads: number;
  consumerThreads: number;
  fioS: number;
  json?: string;
  report?: string | true;
  list?: boolean;
}

export function benchCommand(): Command {
  return new Command('bench')
    .summary('run benchmark workloads against Tern and peers')
    .description('Run benchmark workloads (names from bench/workloads, or files; "standard" = the standard set) against Tern and peers (Redis Streams, NATS JetStream, RabbitMQ streams; installed with apt-get when missing), and print the results.')
    .argument('[workloads...]', 'workload names or files', ['standard'])
    .option('-t, --target <ids>', 'comma-separated targets: tern, redis-always, redis-everysec, nats, rabbitmq, or all (default: all)')
    .option('-r, --repeats <n>', 'runs per workload and target, targets alternating', intArg(1, 20), 2)
    .option('--duration-s <s>', 'override every workload\'s measured duration', intArg(1, 3600))
    .option('--warmup-s <s>', 'override every workload\'s warm-up', intArg(0, 3600))
    .option('--dir <path>', 'where servers keep their data (a real disk, not tmpfs; default: the OS temp dir)')
    .option('--producer-threads <n>', 'worker threads for producers', intArg(1, 64), 2)
    .option('--consumer-threads <n>', 'worker threads for consumers', intArg(1, 64), 2)
    .option('--fio-s <s>', 'seconds per fio measurement of the disk (0: skip fio and loopback)', intArg(0, 600), 5)
    .option('--json <file>', 'write every measured figure as JSON')
    .option('--report [file]', 'rewrite the results section and charts of this Markdown file (default file: docs/benchmarks.md)')
    .option('--list', 'list the workloads and targets')
    .addHelpText('after', '\nExamples:\n  $ tern bench latency-5k-1kib --target tern,redis-always\n  $ tern bench standard --report docs/benchmarks.md\n  $ tern bench ./my-workload.yaml --repeats 3 --json out.json')
    .action(async (workloads: string[], flags: BenchFlags) => {
      const bench = await import('../../bench/index.js');
      const report = flags.report === true ? 'docs/benchmarks.md' : flags.report;
      let ok: boolean;
      try {
        ok = await bench.benchMain(workloads, { ...flags, report, commandLine: process.env.TERN_BENCH_COMMAND ?? `npx tern bench ${process.argv.slice(3).join(' ')}`.trim() }, (s) => void write(s), (s) => process.stderr.write(`${s}\n`));
      } catch (err) {
        if (err instanceof bench.WorkloadError || err instanceof bench.BenchUsageError) throw new CliError(err.message);
        throw err;
      }
      if (!ok) throw new CliError('benchmark failed: Tern has no successful run for some workload (see the log above)');
    });
}
