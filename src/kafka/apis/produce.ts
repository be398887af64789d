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
 *
 * Idempotence and transactions (src/kafka/partitions.ts, src/txn): a batch with a producer id is checked against
 * the partition's producer state (duplicates answer their original offset, gaps OUT_OF_ORDER_SEQUENCE_NUMBER,
 * old epochs INVALID_PRODUCER_EPOCH); a transactional batch needs the request's TransactionalId and a
 * transaction coordinator (TRANSACTIONAL_ID_AUTHORIZATION_FAILED otherwise, as Kafka answers an unauthorized
 * transactional produce).
 *
 * min.insync.replicas: with acks=all, a topic asking for more in-sync replicas than this node's one is answered
 * NOT_ENOUGH_REPLICAS and nothing is written, as Kafka does while its ISR is that small (acks=0/1 are not affected).
 */
import { ApiKey, type ProduceRequest, type ProduceResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { RecordsValue } from '../../protocol/codec.js';
import type { ApiHandler, BrokerServices } from '../context.js';
import { OFFSETS_TOPIC } from '../../groups/index.js';
import { TRANSACTION_STATE_TOPIC } from '../../txn/index.js';

type PartitionOut = NonNullable<NonNullable<ProduceResponseIn['responses']>[number]['partitionResponses']>[number];

function failed(index: number, errorCode: number, errorMessage: string | null = null): PartitionOut {
  return { index, errorCode, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, errorMessage };
}

/** The in-sync replicas of every partition on this single node: the node itself. */
const ISR_SIZE = 1;

async function producePartition(b: BrokerServices, v: number, acks: number, topic: string, index: number, records: RecordsValue, transactionalId: string | null): Promise<PartitionOut> {
  // Only the group and transaction coordinators write their internal topics (Kafka: InvalidTopicException for clients).
  if (topic === OFFSETS_TOPIC || topic === TRANSACTION_STATE_TOPIC) return failed(index, ErrorCode.INVALID_TOPIC_EXCEPTION, `${topic} is an internal topic`);
  if (records === null) return failed(index, ErrorCode.INVALID_RECORD, 'no record batch for the partition');
  // Kafka refuses acks=all writes, before appending, while the ISR is smaller than the topic's min.insync.replicas
  // (retriable NOT_ENOUGH_REPLICAS): a topic asking for 2 must not be acknowledged with one copy.
  const minIsr = acks === -1 ? Number(b.topics.get(topic)?.configs['min.insync.replicas'] ?? '1') : 1;
  if (minIsr > ISR_SIZE) {
    return failed(index, ErrorCode.NOT_ENOUGH_REPLICAS, `The size of the current ISR (${ISR_SIZE}) is insufficient to satisfy the min.isr requirement of ${minIsr} for partition ${topic}-${index}`);
  }
  // Validation, offsets and the durable append happen where the partition lives (src/kafka/partitions.ts).
  const res = await b.partitions.produce(topic, index, records, v, transactionalId);
  return { index, ...res };
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
        return producePartition(b, ctx.apiVersion, acks, td.name, pd.index, pd.records, req.transactionalId);
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
