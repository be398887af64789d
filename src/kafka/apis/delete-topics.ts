/**
 * DeleteTopics (key 20), v0-6: by name (v0-5 TopicNames, v6 Topics[].Name) or by id (v6 Topics[].TopicId).
 * The topic leaves the table durably first, then its partition directories are removed. The internal topics
 * cannot be deleted (internal-topics.ts).
 */
import { ApiKey, type DeleteTopicsRequest, type DeleteTopicsResponseIn } from '../../protocol/messages/index.js';
import type { DeletableTopicResultIn } from '../../protocol/messages/DeleteTopicsResponse.js';
import { ErrorCode } from '../../protocol/errors.js';
import { ZERO_UUID } from '../../protocol/codec.js';
import type { ApiHandler } from '../context.js';
import { internalTopicFailure, isInternalTopic } from './internal-topics.js';

export const deleteTopicsHandler: ApiHandler<DeleteTopicsRequest, DeleteTopicsResponseIn> = {
  key: ApiKey.DeleteTopics,
  minVersion: 0,
  maxVersion: 6,
  async handle(req, ctx) {
    const b = ctx.broker;
    const wanted = ctx.apiVersion >= 6 ? req.topics.map((t) => ({ name: t.name, topicId: t.topicId })) : req.topicNames.map((name) => ({ name, topicId: ZERO_UUID }));
    const responses: DeletableTopicResultIn[] = [];
    for (const w of wanted) {
      const rec = w.name !== null ? b.topics.get(w.name) : w.topicId !== ZERO_UUID ? b.topics.getById(w.topicId) : undefined;
      if (!rec) {
        const byId = w.name === null;
        responses.push({ name: w.name, topicId: w.topicId, errorCode: byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: byId ? 'Unknown topic id' : 'This server does not host this topic-partition.' });
        continue;
      }
      if (isInternalTopic(rec.name)) {
        responses.push({ name: rec.name, topicId: rec.id, ...internalTopicFailure(rec.name, 'deleted') });
        continue;
      }
      try {
        await b.deleteTopic(rec.name);
        responses.push({ name: rec.name, topicId: rec.id, errorCode: 0, errorMessage: null });
      } catch (err) {
        b.logger.error({ err, topic: rec.name }, 'delete topic failed');
        responses.push({ name: rec.name, topicId: rec.id, errorCode: ErrorCode.KAFKA_STORAGE_ERROR, errorMessage: (err as Error).message });
      }
    }
    return { throttleTimeMs: 0, responses };
  },
};
