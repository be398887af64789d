/** Shared option parsing of the CLI commands and the client connection they use. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { KafkaClient } from '../client/index.js';

export const DEFAULT_BROKERS = '127.0.0.1:9092';

/** Adds `--brokers` (env TERN_BROKERS) to a command that talks to a cluster. */
export function withBrokers(cmd: Command): Command {
  return cmd.addOption(
    new Option('--brokers <host:port,...>', 'brokers to bootstrap from').env('TERN_BROKERS').default(DEFAULT_BROKERS),
  );
}

/** Runs `fn` with a connected client and closes it afterwards, whatever happens. */
export async function withClient<T>(brokers: string, fn: (client: KafkaClient) => Promise<T>): Promise<T> {
  const client = await KafkaClient.connect({ brokers, clientId: 'tern-cli' });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Commander argument parser for an integer in [min, max]. */
export function intArg(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer${max === Number.MAX_SAFE_INTEGER ? ` >= ${min}` : ` in ${min}..${max}`}, got '${value}'.`);
    }
    return n;
  };
}

/** Commander collector for a repeatable option. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Splits `key=value` (the value may contain '='). */
export function keyValue(s: string, what: string): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`${what}: expected key=value, got '${s}'.`);
  return [s.slice(0, i), s.slice(i + 1)];
}

/** Parses a list like `0,2,5` (repeatable option values may also be lists). */
export function partitionList(values: readonly string[]): number[] {
  const out: number[] = [];
  for (const v of values) {
    for (const part of v.split(',')) {
      const n = Number(part.trim());
      if (part.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`bad partition '${part}'.`);
      out.push(n);
    }
  }
  return out;
}
