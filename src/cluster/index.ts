export { TopicTable, topicNameError, type TopicRecord, type TopicView } from './topic-table.js';
