/**
 * Fetch (key 1), v4-17. v4 is the first with record batch v2 and isolation level (kafka-python pins it), v12+
 * is flexible, v13+ names topics by id.
 *
 * - Long poll: when fewer than MinBytes are available the request waits, up to MaxWaitMs (capped at
 *   `fetchWaitMsMax`), and is woken by any append to one of its partitions.
 * - Sizes: MaxBytes (capped at `fetchResponseBytesMax`) over the response, PartitionMaxBytes per partition;
 *   KIP-74: the first batch of the first partition with data is returned whole even if it exceeds the limits,
 *   so a consumer is never stuck behind one large batch.
 * - Batches are returned as stored, whole, possibly starting before FetchOffset (clients skip the head).
 * - Isolation: read_committed reads stop at the last stable offset (never a batch at or beyond it) and carry
 *   the aborted transactions overlapping what they return; read_uncommitted reads go to the high watermark with
 *   a null aborted list. LastStableOffset is reported either way; a read_committed long poll wakes when the
 *   LSO moves.
 * - zstd (KIP-110): a topic whose compression.type is zstd answers Fetch v4-9 with UNSUPPORTED_COMPRESSION_TYPE
 *   per partition, as Kafka does (KafkaApis.maybeConvertFetchedData checks the topic's config at versions below
 *   10). As in Kafka, the batches themselves are not inspected: a zstd batch on a `producer` topic is served to
 *   any version (kafka-python 2.0.2 fetches at v4 and decodes zstd when python-zstandard is installed).
 * - Fetch sessions (KIP-227) are not kept: every response carries SessionId 0, which clients treat as
 *   sessionless; a request naming a session id gets FETCH_SESSION_ID_NOT_FOUND.
 * - Only synced data is ever served (the log's high watermark moves after fsync).
 * - Records another shard read arrive as views of its bulk arena (src/shard/bulk.ts): the answered attempt's
 *   views are handed back once the response is on the socket (`ctx.holdUntilWritten`), a discarded long-poll
 *   attempt's at once.
 */
import { ApiKey, type FetchRequest, type FetchResponseIn } from '../../protocol/messages/index.js';
import type { FetchableTopicResponseIn, PartitionDataIn } from '../../protocol/messages/FetchResponse.js';
import { ErrorCode } from '../../protocol/errors.js';
import { ZERO_UUID } from '../../protocol/codec.js';
import { LEADER_EPOCH, type ReadOutcome, type ReadSpec } from '../partitions.js';
import type { ApiHandler, BrokerServices, RequestContext } from '../context.js';
import { READ_COMMITTED, READ_UNCOMMITTED } from '../../txn/index.js';

const EMPTY = Buffer.alloc(0);
/** Fetch v10 (KIP-110) is the first a client may send only if it can decode zstd. */
const ZSTD_FETCH_VERSION_MIN = 10;

interface Target {
  topicOut: FetchableTopicResponseIn;
  spec: ReadSpec;
  /** Error fixed before reading (unknown topic id, leader epoch...), else 0. */
  preError: number;
}

function resolveTargets(b: BrokerServices, req: FetchRequest, v: number): { topics: FetchableTopicResponseIn[]; targets: Target[] } {
  const isolationLevel = req.isolationLevel === READ_COMMITTED ? READ_COMMITTED : READ_UNCOMMITTED;
  const topics: FetchableTopicResponseIn[] = [];
  const targets: Target[] = [];
  for (const ft of req.topics) {
    const byId = v >= 13;
    const rec = byId ? (ft.topicId === ZERO_UUID ? undefined : b.topics.getById(ft.topicId)) : b.topics.get(ft.topic);
    const topicOut: FetchableTopicResponseIn = byId ? { topicId: ft.topicId, partitions: [] } : { topic: ft.topic, partitions: [] };
    topics.push(topicOut);
    // Kafka refuses Fetch < v10 (no zstd in the client) on a topic whose compression.type is zstd; the topic's
    // config decides, not the batches, so no record byte is looked at (KafkaApis.maybeConvertFetchedData).
    const zstdRefused = v < ZSTD_FETCH_VERSION_MIN && rec !== undefined && rec.configs['compression.type']?.trim() === 'zstd';
    for (const fp of ft.partitions) {
      let preError = 0;
      if (!rec) preError = byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else if (fp.partition < 0 || fp.partition >= rec.partitions) preError = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else if (zstdRefused) preError = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE;
      else if (fp.currentLeaderEpoch > LEADER_EPOCH) preError = ErrorCode.UNKNOWN_LEADER_EPOCH;
      else if (fp.currentLeaderEpoch >= 0 && fp.currentLeaderEpoch < LEADER_EPOCH) preError = ErrorCode.FENCED_LEADER_EPOCH;
      const spec: ReadSpec = { topic: rec?.name ?? '', partition: fp.partition, fetchOffset: fp.fetchOffset, partitionMaxBytes: fp.partitionMaxBytes, isolationLevel };
      targets.push({ topicOut, spec, preError });
    }
  }
  return { topics, targets };
}

interface Attempt {
  /** Per target, null where it failed before reading. */
  outcomes: (ReadOutcome | null)[];
  /** Per readable target, in order. */
  read: ReadOutcome[];
  bytes: number;
  errors: boolean;
  /** Hand-backs of the views this attempt's records are (reads answered by other shards). */
  releases: (() => void)[];
}

/** `views`: whether records may be views to hand back (only where the response's write can be waited for). */
async function readAll(b: BrokerServices, targets: Target[], readable: Target[], maxBytes: number, views: boolean): Promise<Attempt> {
  const releases: (() => void)[] = [];
  const hold = views ? (r: () => void): void => void releases.push(r) : undefined;
  const read = readable.length === 0 ? [] : await b.partitions.read(readable.map((t) => t.spec), maxBytes, hold);
  const outcomes: (ReadOutcome | null)[] = [];
  let bytes = 0;
  let errors = false;
  let i = 0;
  for (const t of targets) {
    if (t.preError !== 0) {
      outcomes.push(null);
      errors = true;
      continue;
    }
    const o = read[i++]!;
    outcomes.push(o);
    bytes += o.bytes;
    if (o.errorCode !== 0) errors = true;
  }
  return { outcomes, read, bytes, errors, releases };
}

function respond(topics: FetchableTopicResponseIn[], targets: Target[], attempt: Attempt, isolation: number): FetchResponseIn {
  for (const t of topics) t.partitions = [];
  const committed = isolation === READ_COMMITTED;
  targets.forEach((t, i) => {
    const o = attempt.outcomes[i];
    const out: PartitionDataIn = { partitionIndex: t.spec.partition, errorCode: t.preError, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, abortedTransactions: committed ? [] : null, preferredReadReplica: -1, records: EMPTY };
    if (o) {
      out.errorCode = o.errorCode;
      out.highWatermark = o.highWatermark;
      out.lastStableOffset = o.lastStableOffset;
      out.logStartOffset = o.logStartOffset;
      if (committed) out.abortedTransactions = o.abortedTransactions ?? [];
      out.records = o.records.length === 0 ? EMPTY : o.records.length === 1 ? o.records[0]! : o.records;
    }
    t.topicOut.partitions!.push(out);
  });
  return { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: topics };
}

export const fetchHandler: ApiHandler<FetchRequest, FetchResponseIn> = {
  key: ApiKey.Fetch,
  minVersion: 4,
  maxVersion: 17,
  async handle(req, ctx: RequestContext) {
    const b = ctx.broker;
    const v = ctx.apiVersion;
    if (v >= 7 && req.sessionId !== 0) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND, sessionId: 0, responses: [] };
    }
    const { topics, targets } = resolveTargets(b, req, v);
    const readable = targets.filter((t) => t.preError === 0);
    const maxBytes = Math.max(1, Math.min(req.maxBytes, b.config.fetchResponseBytesMax));
    const maxWaitMs = Math.max(0, Math.min(req.maxWaitMs, b.config.fetchWaitMsMax));
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      // Without holdUntilWritten nothing could tell when the records are no longer used: owned copies then.
      const attempt = await readAll(b, targets, readable, maxBytes, ctx.holdUntilWritten !== undefined);
      const left = deadline - Date.now();
      if (attempt.bytes >= req.minBytes || attempt.errors || left <= 0 || ctx.signal.aborted || readable.length === 0) {
        for (const r of attempt.releases) ctx.holdUntilWritten!(r);
        return respond(topics, targets, attempt, req.isolationLevel);
      }
      for (const r of attempt.releases) r(); // a long poll's attempt not answered: nothing uses its records
      const waits = readable.map((t, i) => ({ topic: t.spec.topic, partition: t.spec.partition, seenHighWatermark: attempt.read[i]!.seenHighWatermark, isolationLevel: t.spec.isolationLevel }));
      await b.partitions.waitForAppend(waits, left, ctx.signal);
    }
  },
};
