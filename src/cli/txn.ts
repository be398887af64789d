/**
 * `tern txn ...`: list transactional ids (with state and producer id, filtered by state, producer id or how
 * long the transaction has been running) and describe one (state, producer id and epoch, timeout, start time,
 * partitions). Everything goes through the Kafka transaction admin APIs (ListTransactions, FindCoordinator with
 * key type 1, DescribeTransactions), as kafka-transactions.sh does.
 */
import { Command } from 'commander';
import { collect, intArg, withBrokers, withClient } from './common.js';
import { pairs, section, table, write } from './output.js';

interface BrokerOpts {
  brokers: string;
}

export function txnCommand(): Command {
  const txn = new Command('txn').summary('list and inspect transactions').description('List transactional ids and inspect their transactions.');

  withBrokers(
    txn
      .command('list')
      .alias('ls')
      .summary('list transactional ids')
      .description('List transactional ids with their state and producer id.')
      .option('-s, --state <state>', 'only ids in this state (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort), repeatable', collect)
      .option('-p, --producer-id <id>', 'only this producer id, repeatable', (v: string, prev: number[] | undefined) => [...(prev ?? []), intArg(0)(v)])
      .option('-d, --duration-ms <ms>', 'only transactions running longer than this', intArg(0)),
  ).action(async (opts: BrokerOpts & { state?: string[]; producerId?: number[]; durationMs?: number }) => {
    const list = await withClient(opts.brokers, (c) => c.listTransactions({ states: opts.state ?? [], producerIds: opts.producerId ?? [], ...(opts.durationMs !== undefined ? { durationMs: opts.durationMs } : {}) }));
    await write(`${table(['transactional id', 'state', 'producer id'], list.map((t) => [t.transactionalId, t.state, t.producerId]))}\n`);
  });

  withBrokers(txn.command('describe').summary('show a transactional id and its transaction').description('Show a transactional id: state, producer id and epoch, timeout, start time and the partitions of its transaction.').argument('<transactional-id>', 'transactional id')).action(
    async (id: string, opts: BrokerOpts) => {
      const d = await withClient(opts.brokers, (c) => c.describeTransaction(id));
      const partitions = d.topics.flatMap((t) => t.partitions.map((p) => [t.topic, p] as [string, number]));
      await write(
        `${section(
          'TRANSACTION',
          pairs([
            ['transactional id', d.transactionalId],
            ['state', d.state],
            ['producer id', d.producerId],
            ['producer epoch', d.producerEpoch],
            ['timeout ms', d.transactionTimeoutMs],
            ['started', d.transactionStartTimeMs < 0 ? '-' : new Date(d.transactionStartTimeMs).toISOString()],
          ]),
        )}\n\n${section('PARTITIONS', table(['topic', 'partition'], partitions))}\n`,
      );
    },
  );
  return txn;
}
