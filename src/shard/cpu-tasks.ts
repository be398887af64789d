/**
 * The tasks a shard's piscina pool runs (src/shard/cpu-pool.ts), each in a pool thread: CPU work that must not
 * stall the shard's event loop. Inputs arrive as copies (structured clone), results go back transferred.
 */
import { decompress } from '../protocol/compression.js';
import { firstBadCrcIn } from '../log/offload.js';
import type { CompressionId } from '../protocol/records.js';

export type CpuTask =
  | { kind: 'decompress'; codec: CompressionId; payload: Uint8Array }
  | { kind: 'firstBadCrc'; chunk: Uint8Array; positions: number[] };

const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export default async function run(task: CpuTask): Promise<Uint8Array | number> {
  switch (task.kind) {
    case 'decompress':
      return decompress(task.codec, asBuffer(task.payload));
    case 'firstBadCrc':
      return firstBadCrcIn(asBuffer(task.chunk), task.positions);
  }
}
