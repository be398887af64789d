/**
 * The internal topics `__consumer_offsets` and `__transaction_state`: the group and transaction coordinators keep
 * their state there and are the only ones that create them (with offsets.topic.num.partitions /
 * transaction.state.log.num.partitions partitions and cleanup.policy=compact), as Kafka's AutoTopicCreationManager
 * does for a Metadata request naming them.
 *
 * Why the admin APIs may not create, delete or grow them: a coordinator maps an id to a partition by its configured
 * partition count and holds the topic's partitions for the life of the process. A copy made by CreateTopics or by
 * Metadata auto-creation (num.partitions, 1 by default, cleanup.policy=delete) left every group hashing past its
 * last partition without a coordinator, for good (kcat -L -t __consumer_offsets on a new broker was enough); a
 * deleted one left the coordinator serving partitions that no longer exist until a restart. Kafka accepts these
 * requests through its admin API (its own tools refuse them); Tern answers INVALID_TOPIC_EXCEPTION, the code Kafka
 * gives a produce to an internal topic.
 */
import { ErrorCode } from '../../protocol/errors.js';
import { OFFSETS_TOPIC } from '../../groups/index.js';
import { TRANSACTION_STATE_TOPIC } from '../../txn/index.js';
import type { BrokerServices, KafkaFailure } from '../context.js';

export function isInternalTopic(name: string): boolean {
  return name === OFFSETS_TOPIC || name === TRANSACTION_STATE_TOPIC;
}

/** Creates the internal topic `name` through its coordinator if it does not exist yet; false when that failed. */
export function ensureInternalTopic(b: BrokerServices, name: string): Promise<boolean> {
  return name === OFFSETS_TOPIC ? b.groups.ensureOffsetsTopic() : b.txn.ensureStateTopic();
}

/** The answer to an admin request that would create, delete or grow an internal topic. */
export function internalTopicFailure(name: string, action: 'created' | 'deleted' | 'given more partitions'): KafkaFailure {
  const how = action === 'created' ? ': the broker creates it on first use' : '';
  return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: `Topic '${name}' is internal and cannot be ${action}${how}` };
}
