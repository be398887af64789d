/** The broker's logger: JSON lines on stderr (stdout stays free for tools), one per thread (shards add theirs). */
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  // Synchronous writes: a line is out before a crash, and worker threads need no transport thread.
  return pino({ level, base: { svc: 'tern' } }, pino.destination({ fd: 2, sync: true }));
}
