/**
 * `tern produce TOPIC`: one record per stdin line.
 *
 * Records are grouped per partition into batches, sent when a batch reaches `BATCH_RECORDS_MAX` or
 * `BATCH_BYTES_MAX`, `LINGER_MS` after its first record (so typing into a terminal produces at once), and at
 * end of input. Sends are serialized, so records of a partition keep their input order. Partition: `-p`, else
 * Kafka's murmur2 of the key (same partition as the Java client), else one random partition per batch (the
 * sticky choice Kafka makes for keyless records). Empty lines are skipped.
 */
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import { COMPRESSION_NAMES, compressionFromName, compressSync, loadCompression } from '../protocol/compression.js';
import { buildRecordBatch, type RecordInput } from '../protocol/records.js';
import { partitionForKey, type Acks, type KafkaClient } from '../client/index.js';
import { collect, intArg, keyValue, withBrokers, withClient } from './common.js';
import { CliError, write } from './output.js';

const BATCH_RECORDS_MAX = 1000;
// Below the broker's default max.message.bytes (1 MiB) with room for record and batch overhead.
const BATCH_BYTES_MAX = 512 * 1024;
const LINGER_MS = 20;
/** Records read and not yet acknowledged before reading pauses. */
const BACKLOG_RECORDS_MAX = 10 * BATCH_RECORDS_MAX;

interface ProduceOpts {
  brokers: string;
  keySeparator?: string;
  header?: string[];
  partition?: number;
  acks: string;
  compression: string;
  verbose?: boolean;
}

export function produceCommand(): Command {
  return withBrokers(
    new Command('produce')
      .summary('produce records from stdin, one per line')
      .description('Produce records read from stdin, one record per line.')
      .argument('<topic>', 'topic to produce to')
      .option('-k, --key-separator <sep>', 'each line is KEY<sep>VALUE (lines without <sep> have no key)')
      .option('-H, --header <key=value>', 'header added to every record, repeatable', collect)
      .option('-p, --partition <n>', 'partition to produce to (default: by key hash, else random per batch)', intArg(0))
      .addOption(new Option('--acks <acks>', 'acknowledgements to wait for').choices(['0', '1', 'all', '-1']).default('all'))
      .addOption(new Option('-z, --compression <codec>', 'batch compression').choices(COMPRESSION_NAMES).default('none'))
      .option('-v, --verbose', 'print the partition and offset of every record')
      .addHelpText('after', `\nExamples:\n  $ echo hello | tern produce events\n  $ printf 'user1:login\\nuser2:logout\\n' | tern produce events -k : -H source=cli -z zstd`),
  ).action(async (topic: string, opts: ProduceOpts) => {
    const acks: Acks = opts.acks === '0' ? 0 : opts.acks === '1' ? 1 : -1;
    const compression = compressionFromName(opts.compression);
    if (compression !== 0) await loadCompression();
    const headers = (opts.header ?? []).map((h) => {
      const [key, value] = keyValue(h, '--header');
      return { key, value };
    });
    const summary = await withClient(opts.brokers, async (client) => {
      const md = await client.metadata([topic]);
      const t = md.topics.find((x) => x.name === topic);
      if (t?.error) throw t.error;
      const partitions = t?.partitions.length ?? 0;
      if (partitions === 0) throw new CliError(`topic '${topic}' has no partitions`);
      if (opts.partition !== undefined && opts.partition >= partitions) throw new CliError(`topic '${topic}' has no partition ${opts.partition} (it has ${partitions})`);
      const sender = new BatchSender(client, topic, acks, (p) => buildRecordBatch(p, { compression, compress: (b) => compressSync(compression, b) }), opts.verbose === true);
      let sticky = Math.floor(Math.random() * partitions);
      const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
      for await (const line of rl) {
        if (line === '') continue;
        let key: string | null = null;
        let value = line;
        if (opts.keySeparator !== undefined && opts.keySeparator !== '') {
          const i = line.indexOf(opts.keySeparator);
          if (i >= 0) {
            key = line.slice(0, i);
            value = line.slice(i + opts.keySeparator.length);
          }
        }
        const partition = opts.partition ?? (key !== null ? partitionForKey(Buffer.from(key), partitions) : sticky);
        if (sender.add(partition, { key, value, headers, timestamp: Date.now() })) sticky = Math.floor(Math.random() * partitions);
        if (sender.backlog >= BACKLOG_RECORDS_MAX) await sender.drain();
        sender.throwIfFailed();
      }
      await sender.flush();
      return sender;
    });
    if (opts.verbose !== true) {
      const where = summary.partitionsUsed.size === 1 ? `partition ${[...summary.partitionsUsed][0]}` : `${summary.partitionsUsed.size} partitions`;
      await write(summary.sent === 0 ? 'No records produced (empty input).\n' : `Produced ${summary.sent} record${summary.sent === 1 ? '' : 's'} to topic '${topic}' (${where}${acks === 0 ? ', acks=0: not acknowledged' : ''}).\n`);
    }
  });
}

/** Gathers records per partition and sends them as batches, one send at a time. */
class BatchSender {
  sent = 0;
  readonly partitionsUsed = new Set<number>();
  private pending = new Map<number, RecordInput[]>();
  private pendingBytes = 0;
  private pendingRecords = 0;
  private inFlightRecords = 0;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private linger: NodeJS.Timeout | null = null;

  constructor(
    private readonly client: KafkaClient,
    private readonly topic: string,
    private readonly acks: Acks,
    private readonly build: (records: RecordInput[]) => Buffer,
    private readonly verbose: boolean,
  ) {}

  /** Records read but not acknowledged yet. */
  get backlog(): number {
    return this.pendingRecords + this.inFlightRecords;
  }

  /** Queues a record; true when this closed a batch (keyless records then move to a new partition). */
  add(partition: number, record: RecordInput): boolean {
    const list = this.pending.get(partition) ?? [];
    list.push(record);
    this.pending.set(partition, list);
    this.pendingRecords++;
    this.pendingBytes += String(record.value ?? '').length + String(record.key ?? '').length;
    if (list.length >= BATCH_RECORDS_MAX || this.pendingBytes >= BATCH_BYTES_MAX) {
      void this.flush().catch(() => undefined); // failure is kept in this.failure
      return true;
    }
    this.linger ??= setTimeout(() => void this.flush().catch(() => undefined), LINGER_MS);
    return false;
  }

  /** Sends everything queued; resolves when all sends so far are acknowledged. */
  flush(): Promise<void> {
    if (this.linger !== null) clearTimeout(this.linger);
    this.linger = null;
    const batches = [...this.pending];
    this.pending = new Map();
    this.pendingBytes = 0;
    this.inFlightRecords += this.pendingRecords;
    this.pendingRecords = 0;
    for (const [partition, records] of batches) {
      this.chain = this.chain.then(async () => {
        if (this.failure !== null) return;
        try {
          const base = await this.client.produce(this.topic, partition, this.build(records), this.acks);
          this.sent += records.length;
          this.partitionsUsed.add(partition);
          if (this.verbose) {
            const lines = records.map((_, i) => `${this.topic}/${partition}@${base < 0 ? '?' : base + i}\n`);
            await write(lines.join(''));
          }
        } catch (err) {
          this.failure = err;
        } finally {
          this.inFlightRecords -= records.length;
        }
      });
    }
    return this.chain.then(() => this.throwIfFailed());
  }

  drain(): Promise<void> {
    return this.chain;
  }

  throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }
}
