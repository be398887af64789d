/** `tern cluster info`: brokers, controller and cluster id (DescribeCluster, or Metadata on older brokers). */
import { Command } from 'commander';
import { withBrokers, withClient } from './common.js';
import { pairs, section, table, write } from './output.js';

export function clusterCommand(): Command {
  const cluster = new Command('cluster').summary('inspect the cluster').description('Inspect the cluster.');
  withBrokers(
    cluster
      .command('info')
      .summary('show brokers, controller and cluster id')
      .description('Show the cluster id, the controller and every broker (* marks the controller).'),
  ).action(async (opts: { brokers: string }) => {
    const info = await withClient(opts.brokers, (c) => c.describeCluster());
    const brokers = table(
      ['id', 'host', 'port', 'rack'],
      info.brokers.map((b) => [`${b.nodeId}${b.nodeId === info.controllerId ? '*' : ''}`, b.host, b.port, b.rack ?? '']),
    );
    const summary = pairs([
      ['cluster id', info.clusterId ?? '(none)'],
      ['controller', info.controllerId],
    ]);
    await write(`${section('cluster', summary)}\n\n${section('brokers', brokers)}\n`);
  });
  return cluster;
}
