/**
 * The `tern` command (bin/tern.js calls `main(process.argv)`). Every command other than `start` talks to a
 * cluster over the Kafka protocol through src/client: no private back door.
 *
 * Errors: printed as one `error: ...` line (Kafka errors as `error: NAME: message`), exit code 1, no stack
 * trace (set TERN_DEBUG=1 to get one). `main` never rejects and does not call process.exit (except when
 * stdout's reader went away): it sets process.exitCode, so pending stdout writes are flushed first.
 */
import { Command, CommanderError } from 'commander';
import { benchCommand } from './bench.js';
import { clusterCommand } from './cluster.js';
import { consumeCommand } from './consume.js';
import { groupCommand } from './group.js';
import { printError } from './output.js';
import { produceCommand } from './produce.js';
import { startCommand } from './start.js';
import { topicCommand } from './topic.js';
import { txnCommand } from './txn.js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('tern')
    .description('Tern: a Kafka-compatible event streaming platform.')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .addCommand(startCommand())
    .addCommand(topicCommand())
    .addCommand(produceCommand())
    .addCommand(consumeCommand())
    .addCommand(groupCommand())
    .addCommand(txnCommand())
    .addCommand(clusterCommand())
    .addCommand(benchCommand())
    .addHelpText('after', '\nCommands that talk to a cluster take --brokers HOST:PORT[,...] (default 127.0.0.1:9092, env TERN_BROKERS).');
  // Commander prints its own usage errors; make it throw instead of exiting so main decides the exit code.
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    for (const c of cmd.commands) override(c);
  };
  override(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  // A reader that goes away (`tern consume t | head`) is a normal end, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Already printed by commander (usage error), or help/version output (exit code 0).
      process.exitCode = err.exitCode;
      return;
    }
    printError(err);
    process.exitCode = 1;
  }
}
