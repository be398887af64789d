/**
 * Transaction control markers as they lie in a partition's log (KIP-98): a control batch (attributes control +
 * transactional) of exactly one record, written by the broker for the transaction coordinator, never by clients.
 *
 * Record key (big-endian):   version int16 (0) | type int16 (0 = ABORT, 1 = COMMIT)
 * Record value (big-endian): version int16 (0) | coordinatorEpoch int32
 * The batch carries the producer id and epoch of the transaction it ends; its base sequence is -1.
 *
 * Pure: bytes in, objects out.
 */
import { buildRecordBatch, iterateRecords, batchPayload, isControl, compressionOf, Compression, type BatchHeader } from '../protocol/records.js';
import type { TxnMarker } from './types.js';

export const CONTROL_TYPE_ABORT = 0;
export const CONTROL_TYPE_COMMIT = 1;
const CONTROL_KEY_BYTES = 4;
const MARKER_VALUE_BYTES = 6;

/** The control batch for `marker`, timestamped `nowMs`, ready for PartitionLog.append (base offset 0). */
export function buildMarkerBatch(marker: TxnMarker, nowMs: number): Buffer {
  const key = Buffer.alloc(CONTROL_KEY_BYTES);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(marker.commit ? CONTROL_TYPE_COMMIT : CONTROL_TYPE_ABORT, 2);
  const value = Buffer.alloc(MARKER_VALUE_BYTES);
  value.writeInt16BE(0, 0);
  value.writeInt32BE(marker.coordinatorEpoch, 2);
  return buildRecordBatch([{ key, value, timestamp: nowMs }], {
    producerId: marker.producerId,
    producerEpoch: marker.producerEpoch,
    baseSequence: -1,
    control: true,
    transactional: true,
    nowMs,
  });
}

/** A marker read back from the log. */
export interface ParsedMarker {
  commit: boolean;
  coordinatorEpoch: number;
  timestamp: number;
}

/**
 * The marker held by the control batch `batch` (its whole bytes, header `h`), or null when the batch is not a
 * transaction marker this broker understands (an unknown control type, or a malformed record: data from the
 * disk, answered by skipping it, never by a crash).
 */
export function parseMarker(batch: Buffer, h: BatchHeader): ParsedMarker | null {
  if (!isControl(h.attributes) || compressionOf(h.attributes) !== Compression.none) return null;
  try {
    for (const r of iterateRecords(batchPayload(batch, 0, h), h)) {
      if (r.key === null || r.key.length < CONTROL_KEY_BYTES) return null;
      const type = r.key.readInt16BE(2);
      if (type !== CONTROL_TYPE_ABORT && type !== CONTROL_TYPE_COMMIT) return null;
      const coordinatorEpoch = r.value !== null && r.value.length >= MARKER_VALUE_BYTES ? r.value.readInt32BE(2) : 0;
      return { commit: type === CONTROL_TYPE_COMMIT, coordinatorEpoch, timestamp: r.timestamp };
    }
  } catch {
    return null;
  }
  return null;
}
