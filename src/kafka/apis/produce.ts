/**
 * Produce (key 0), v0-11. v3 is the first with record batch v2 (librdkafka's MsgVer2 needs it), v7 the one
 * kafka-python and librdkafka 2.0.2 (zstd) pin; v9+ is flexible.
 *
 * v0-2 are advertised although they can only carry the legacy message formats (magic 0/1), which Tern does not
 * store: librdkafka up to 2.11 enables gzip, snappy and lz4 only when Produce v0 is in the broker's range, and
 * otherwise silently sends those batches uncompressed. No client that negotiates versions sends v0-2 to a broker
 * advertising v3+; one that does gets UNSUPPORTED_FOR_MESSAGE_FORMAT for its legacy messages.
 *
 * Per partition: the batches are validated (records.ts: CRC32C, lengths, varint records, max.message.bytes),
 * offsets are assigned in request order, and the bytes are appended as received: views of the socket reads the
 * request arrived in, a list of them when it spanned several, never joined or copied. The answer waits until the
 * data is synced (group commit in src/log): acks=1 and acks=all both mean durable on this single node. acks=0
 * gets no response at all, as every client expects, though the write is still made durable.
 */
import { ApiKey, type ProduceRequest, type ProduceResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import { ChunkedView, chunkedLength } from '../../protocol/chunked-bytes.js';
import type { RecordsValue } from '../../protocol/codec.js';
import { MAGIC_OFFSET, MAGIC_V2, validateBatches } from '../../protocol/records.js';
import type { ApiHandler, BrokerServices } from '../context.js';
import { storageFailure } from './errors.js';
import { OFFSETS_TOPIC } from '../../groups/index.js';

type PartitionOut = NonNullable<NonNullable<ProduceResponseIn['responses']>[number]['partitionResponses']>[number];

const LEADER_EPOCH = 0;

function failed(index: number, errorCode: number, errorMessage: string | null = null): PartitionOut {
  return { index, errorCode, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, errorMessage };
}

async function producePartition(b: BrokerServices, v: number, topic: string, index: number, records: RecordsValue): Promise<PartitionOut> {
  // Only the group coordinator writes the internal topic (Kafka: InvalidTopicException for clients).
  if (topic === OFFSETS_TOPIC) return failed(index, ErrorCode.INVALID_TOPIC_EXCEPTION, `${OFFSETS_TOPIC} is an internal topic`);
  const log = b.partitionLog(topic, index);
  if (!log) return failed(index, b.missingPartitionError(topic, index));
  const bytes = records === null ? 0 : chunkedLength(records);
  if (records === null || bytes === 0) return failed(index, ErrorCode.INVALID_RECORD, 'no record batch for the partition');
  // Only v0-2 may carry legacy messages; at v3+ Kafka answers any magic but 2 with INVALID_RECORD (validateBatches).
  if (v < 3 && bytes > MAGIC_OFFSET && (new ChunkedView(records).readInt8(MAGIC_OFFSET) & 0xff) < MAGIC_V2) {
    return failed(index, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, 'message format v0/v1 is not supported: send record batch v2 (Produce v3+)');
  }
  const checked = validateBatches(records, { maxBatchBytes: log.config.maxMessageBytes });
  if (!checked.ok) return failed(index, ErrorCode[checked.error], checked.message);
  try {
    const res = await log.append(records, { leaderEpoch: LEADER_EPOCH, batches: checked.batches });
    return { index, errorCode: 0, baseOffset: res.baseOffset, logAppendTimeMs: res.logAppendTime, logStartOffset: res.logStartOffset, errorMessage: null };
  } catch (err) {
    const f = storageFailure(b, err, 'produce');
    return failed(index, f.errorCode, f.errorMessage);
  }
}

export const produceHandler: ApiHandler<ProduceRequest, ProduceResponseIn> = {
  key: ApiKey.Produce,
  minVersion: 0,
  maxVersion: 11,
  async handle(req, ctx) {
    const b = ctx.broker;
    const acks = req.acks;
    const validAcks = acks === 0 || acks === 1 || acks === -1;
    // Start every partition's append now, in request order, so offsets follow the order requests arrived in.
    const topics = req.topicData.map((td) => ({
      name: td.name,
      partitions: td.partitionData.map((pd) => {
        if (!validAcks) return Promise.resolve(failed(pd.index, ErrorCode.INVALID_REQUIRED_ACKS));
        if (req.transactionalId !== null) return Promise.resolve(failed(pd.index, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'transactions are not supported yet'));
        return producePartition(b, ctx.apiVersion, td.name, pd.index, pd.records);
      }),
    }));
    const responses = [];
    for (const t of topics) responses.push({ name: t.name, partitionResponses: await Promise.all(t.partitions) });
    if (acks === 0 && validAcks) {
      const failed = responses.some((t) => t.partitionResponses.some((p) => p.errorCode !== 0));
      if (failed) ctx.closeAfterEarlierResponses('acks=0 produce failed');
      return null;
    }
    return { responses, throttleTimeMs: 0 };
  },
};
