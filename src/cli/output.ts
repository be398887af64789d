/**
 * Terminal output for the CLI: aligned tables (rpk style: upper-case headers, two-space gutters, no borders),
 * titled sections, error lines, and stdout writes that respect backpressure (a consumer piped into a slow
 * reader must not buffer the whole topic in memory).
 */
import { ConnectionError, KafkaError } from '../client/index.js';

/** An error whose message is meant for the user as is (bad flag values, missing files). */
export class CliError extends Error {
  readonly code = 'ERR_TERN_CLI';
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Two aligned columns without a header row: upper-case names, then values. */
export function pairs(rows: readonly (readonly [string, string | number])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.toUpperCase().padEnd(width)}  ${v}`.trimEnd()).join('\n');
}

/** A titled block: TITLE, an underline, the body. */
export function section(title: string, body: string): string {
  return `${title.toUpperCase()}\n${'='.repeat(title.length)}\n${body}`;
}

/** `error: NAME: message` for Kafka errors, `error: message` for the rest; never a stack trace. */
export function formatError(err: unknown): string {
  if (err instanceof KafkaError) {
    // Kafka's standard messages do not name the topic; multi-topic commands need it.
    const where = err.topic !== undefined && !err.message.includes(err.topic) ? ` (topic '${err.topic}'${err.partition === undefined ? '' : `, partition ${err.partition}`})` : '';
    return `error: ${err.name}: ${err.message}${where}`;
  }
  if (err instanceof ConnectionError) return `error: ${err.message}`;
  if (err instanceof Error) return `error: ${err.message}`;
  return `error: ${String(err)}`;
}

export function printError(err: unknown): void {
  process.stderr.write(`${formatError(err)}\n`);
  if (process.env['TERN_DEBUG'] !== undefined && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
}

/** Writes to stdout, waiting for 'drain' when the pipe is full. Rejects if stdout is closed (EPIPE). */
export async function write(text: string): Promise<void> {
  if (process.stdout.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      process.stdout.off('error', onError);
      resolve();
    };
    const onError = (err: Error): void => {
      process.stdout.off('drain', onDrain);
      reject(err);
    };
    process.stdout.once('drain', onDrain);
    process.stdout.once('error', onError);
  });
}
