export { TopicTable, collidingTopic, collisionMessage, topicNameError, type TopicRecord, type TopicView } from './topic-table.js';
