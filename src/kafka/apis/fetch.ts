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
 * - Isolation: no transactions yet, so the last stable offset equals the high watermark and read_committed
 *   consumers get an empty aborted-transaction list.
 * - Fetch sessions (KIP-227) are not kept: every response carries SessionId 0, which clients treat as
 *   sessionless; a request naming a session id gets FETCH_SESSION_ID_NOT_FOUND.
 * - Only synced data is ever served (the log's high watermark moves after fsync).
 */
import { ApiKey, type FetchRequest, type FetchResponseIn } from '../../protocol/messages/index.js';
import type { FetchableTopicResponseIn, PartitionDataIn } from '../../protocol/messages/FetchResponse.js';
import { ErrorCode } from '../../protocol/errors.js';
import { ZERO_UUID } from '../../protocol/codec.js';
import type { PartitionLog } from '../../log/index.js';
import type { ApiHandler, BrokerServices, RequestContext } from '../context.js';
import { storageFailure } from './errors.js';

const EMPTY = Buffer.alloc(0);
const READ_COMMITTED = 1;
const LEADER_EPOCH = 0;

interface Target {
  topicOut: FetchableTopicResponseIn;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
  log: PartitionLog | undefined;
  /** Error fixed before reading (unknown topic id...), else 0. */
  preError: number;
}

function resolveTargets(b: BrokerServices, req: FetchRequest, v: number): { topics: FetchableTopicResponseIn[]; targets: Target[] } {
  const topics: FetchableTopicResponseIn[] = [];
  const targets: Target[] = [];
  for (const ft of req.topics) {
    const byId = v >= 13;
    const rec = byId ? (ft.topicId === ZERO_UUID ? undefined : b.topics.getById(ft.topicId)) : b.topics.get(ft.topic);
    const topicOut: FetchableTopicResponseIn = byId ? { topicId: ft.topicId, partitions: [] } : { topic: ft.topic, partitions: [] };
    topics.push(topicOut);
    for (const fp of ft.partitions) {
      const log = rec ? b.partitionLog(rec.name, fp.partition) : undefined;
      let preError = 0;
      if (!rec) preError = byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else if (!log) preError = b.missingPartitionError(rec.name, fp.partition);
      else if (fp.currentLeaderEpoch > LEADER_EPOCH) preError = ErrorCode.UNKNOWN_LEADER_EPOCH;
      else if (fp.currentLeaderEpoch >= 0 && fp.currentLeaderEpoch < LEADER_EPOCH) preError = ErrorCode.FENCED_LEADER_EPOCH;
      targets.push({ topicOut, partition: fp.partition, fetchOffset: fp.fetchOffset, partitionMaxBytes: fp.partitionMaxBytes, currentLeaderEpoch: fp.currentLeaderEpoch, log, preError });
    }
  }
  return { topics, targets };
}

interface Attempt {
  partitions: PartitionDataIn[];
  bytes: number;
  errors: boolean;
}

async function readAll(b: BrokerServices, targets: Target[], maxBytes: number, isolation: number): Promise<Attempt> {
  let bytes = 0;
  let errors = false;
  const partitions: PartitionDataIn[] = [];
  const aborted = isolation === READ_COMMITTED ? [] : null;
  for (const t of targets) {
    const out: PartitionDataIn = { partitionIndex: t.partition, errorCode: 0, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, abortedTransactions: aborted, preferredReadReplica: -1, records: EMPTY };
    partitions.push(out);
    if (t.preError !== 0 || !t.log) {
      out.errorCode = t.preError;
      errors = true;
      continue;
    }
    const log = t.log;
    if (log.closed) {
      // The topic was deleted while this Fetch waited: its log is gone, not empty.
      out.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      errors = true;
      continue;
    }
    const hw = log.highWatermark;
    out.highWatermark = hw;
    out.lastStableOffset = hw;
    out.logStartOffset = log.logStartOffset;
    // As in Kafka: out of range below the log start or beyond the log end; between the high watermark and
    // the log end (appended, not yet synced) there is simply nothing to read yet.
    if (t.fetchOffset < log.logStartOffset || t.fetchOffset > log.logEndOffset) {
      out.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
      errors = true;
      continue;
    }
    if (t.fetchOffset >= hw) continue;
    const budget = Math.min(t.partitionMaxBytes, maxBytes - bytes);
    if (budget <= 0 && bytes > 0) continue;
    try {
      const res = await log.read(t.fetchOffset, Math.max(budget, 0), { minOneBatch: bytes === 0 });
      if (!res.ok) {
        // the log moved under us (retention or DeleteRecords between the check and the read)
        out.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
        out.highWatermark = res.highWatermark;
        out.logStartOffset = res.logStartOffset;
        errors = true;
        continue;
      }
      let n = 0;
      for (const r of res.records) n += r.length;
      out.records = res.records.length === 1 ? res.records[0]! : res.records;
      out.highWatermark = res.highWatermark;
      out.lastStableOffset = res.highWatermark;
      out.logStartOffset = res.logStartOffset;
      bytes += n;
    } catch (err) {
      const f = storageFailure(b, err, 'fetch');
      out.errorCode = f.errorCode;
      errors = true;
    }
  }
  return { partitions, bytes, errors };
}

/**
 * Resolves when any of the logs appends, the time is up, or the request is aborted. `seen` holds each log's high
 * watermark as of the last read: an append that landed while that read was in progress wakes us at once.
 */
function waitForAppend(logs: PartitionLog[], seen: number[], ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const unsubs: (() => void)[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      for (const u of unsubs) u();
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    if (signal.aborted) return resolve();
    timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
    for (const log of logs) unsubs.push(log.onAppend(done));
    if (logs.some((log, i) => log.highWatermark !== seen[i])) done();
  });
}

function respond(topics: FetchableTopicResponseIn[], targets: Target[], attempt: Attempt, errorCode = 0): FetchResponseIn {
  for (const t of topics) t.partitions = [];
  targets.forEach((t, i) => t.topicOut.partitions!.push(attempt.partitions[i]!));
  return { throttleTimeMs: 0, errorCode, sessionId: 0, responses: topics };
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
    const maxBytes = Math.max(1, Math.min(req.maxBytes, b.config.fetchResponseBytesMax));
    const maxWaitMs = Math.max(0, Math.min(req.maxWaitMs, b.config.fetchWaitMsMax));
    const deadline = Date.now() + maxWaitMs;
    const logs = [...new Set(targets.flatMap((t) => (t.log ? [t.log] : [])))];
    for (;;) {
      const seen = logs.map((log) => log.highWatermark);
      const attempt = await readAll(b, targets, maxBytes, req.isolationLevel);
      const left = deadline - Date.now();
      if (attempt.bytes >= req.minBytes || attempt.errors || left <= 0 || ctx.signal.aborted || logs.length === 0) {
        return respond(topics, targets, attempt);
      }
      await waitForAppend(logs, seen, left, ctx.signal);
    }
  },
};
