/**
 * `npm run bench`: the standard set against Tern and the peers, results written into docs/benchmarks.md
 * (its generated section) and docs/bench/ (charts, results.json). Same code path as
 * `npx tern bench standard --report docs/benchmarks.md`; extra arguments are passed on (`npm run bench --
 * --repeats 3`).
 *
 * This replaces the issue #2 harness (produce/consume throughput and latency of Tern alone), whose workloads
 * are now max-throughput-1kib, max-throughput-100b and latency-5k-1kib; bench/fio.ts is shared.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const extra = process.argv.slice(2);
process.env.TERN_BENCH_COMMAND ??= `npm run bench${extra.length > 0 ? ` -- ${extra.join(' ')}` : ''}`;
process.chdir(root);
await main(['node', 'tern', 'bench', 'standard', '--report', 'docs/benchmarks.md', ...extra]);
