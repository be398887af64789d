export { TopicTable, topicNameError, type TopicRecord } from './topic-table.js';
