/**
 * DescribeConfigs (key 32), v0-4. Resource types: TOPIC (2) and BROKER (4, this node's id or "" for the
 * cluster default). v0 reports IsDefault; v1+ ConfigSource and, when asked, synonyms; v3+ type and doc.
 */
import { ApiKey, type DescribeConfigsRequest, type DescribeConfigsResponseIn } from '../../protocol/messages/index.js';
import type { DescribeConfigsResultIn } from '../../protocol/messages/DescribeConfigsResponse.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../context.js';
import { ConfigSource, describeBrokerConfigs, describeTopicConfigs, type ConfigEntry } from './config-catalog.js';

export const ResourceType = { TOPIC: 2, BROKER: 4, BROKER_LOGGER: 8 } as const;

export const describeConfigsHandler: ApiHandler<DescribeConfigsRequest, DescribeConfigsResponseIn> = {
  key: ApiKey.DescribeConfigs,
  minVersion: 0,
  maxVersion: 4,
  handle(req, ctx) {
    const b = ctx.broker;
    const v = ctx.apiVersion;
    const results: DescribeConfigsResultIn[] = req.resources.map((r) => {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName, configs: [] };
      // Kafka answers all configs for a null or an empty key list.
      const keys = r.configurationKeys !== null && r.configurationKeys.length > 0 ? r.configurationKeys : null;
      let entries: ConfigEntry[];
      if (r.resourceType === ResourceType.TOPIC) {
        const t = b.topics.get(r.resourceName);
        if (!t) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic '${r.resourceName}' does not exist.` };
        entries = describeTopicConfigs(b, t.configs, keys);
      } else if (r.resourceType === ResourceType.BROKER) {
        if (r.resourceName !== '' && r.resourceName !== String(b.config.nodeId)) {
          return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unexpected broker id, expected ${b.config.nodeId} or empty string, but received ${r.resourceName}` };
        }
        entries = describeBrokerConfigs(b, keys);
      } else {
        return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported resource type ${r.resourceType}` };
      }
      return {
        ...base,
        errorCode: 0,
        errorMessage: null,
        configs: entries.map((e) => ({
          name: e.name,
          value: e.value,
          readOnly: e.readOnly,
          isDefault: e.source === ConfigSource.DEFAULT_CONFIG,
          configSource: e.source,
          isSensitive: false,
          synonyms: req.includeSynonyms && v >= 1 ? e.synonyms : [],
          configType: e.type,
          documentation: req.includeDocumentation ? e.doc : null,
        })),
      };
    });
    return { throttleTimeMs: 0, results };
  },
};
