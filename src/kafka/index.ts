export { KafkaServer } from './server.js';
export { servedApis, validateTopicConfigs } from './apis/index.js';
export type { BrokerServices, ApiHandler, RequestContext, KafkaFailure } from './context.js';
