/**
 * AlterConfigs (key 33, v0-2: replaces a topic's whole override set) and IncrementalAlterConfigs (key 44,
 * v0-1: SET / DELETE / APPEND / SUBTRACT per entry, APPEND and SUBTRACT for list configs such as
 * cleanup.policy). Topic resources only; broker configs are static start-up flags (INVALID_REQUEST, with a
 * message saying so). ValidateOnly validates and changes nothing.
 */
import { ApiKey, type AlterConfigsRequest, type AlterConfigsResponseIn, type IncrementalAlterConfigsRequest, type IncrementalAlterConfigsResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler, BrokerServices, KafkaFailure } from '../context.js';
import { ResourceType } from './describe-configs.js';
import { TOPIC_CONFIGS, isTopicConfigName } from './config-catalog.js';

const OP_SET = 0;
const OP_DELETE = 1;
const OP_APPEND = 2;
const OP_SUBTRACT = 3;
const LIST_CONFIGS = new Set(['cleanup.policy']);

/** A list config's current value: the override, else the default (Kafka's APPEND/SUBTRACT start from it too). */
function currentList(configs: Record<string, string>, name: string): string[] {
  const value = configs[name] ?? TOPIC_CONFIGS.find((c) => c.name === name)?.defaultValue ?? '';
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

type Result = { resourceType: number; resourceName: string; errorCode: number; errorMessage: string | null };

async function apply(b: BrokerServices, resourceType: number, name: string, validateOnly: boolean, next: (current: Record<string, string>) => Record<string, string> | KafkaFailure): Promise<Result> {
  const base = { resourceType, resourceName: name };
  if (resourceType === ResourceType.BROKER) {
    return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Broker configs are static in Tern: set them with tern start flags or the config file.' };
  }
  if (resourceType !== ResourceType.TOPIC) return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported resource type ${resourceType}` };
  const t = b.topics.get(name);
  if (!t) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic '${name}' does not exist.` };
  const configs = next(t.configs);
  if ('errorCode' in configs) return { ...base, errorCode: configs.errorCode as number, errorMessage: configs.errorMessage };
  const bad = b.validateTopicConfigs(configs);
  if (bad) return { ...base, ...bad };
  if (!validateOnly) {
    try {
      await b.setTopicConfigs(name, configs);
    } catch (err) {
      b.logger.error({ err, topic: name }, 'alter configs failed');
      return { ...base, errorCode: ErrorCode.KAFKA_STORAGE_ERROR, errorMessage: (err as Error).message };
    }
  }
  return { ...base, errorCode: 0, errorMessage: null };
}

export const alterConfigsHandler: ApiHandler<AlterConfigsRequest, AlterConfigsResponseIn> = {
  key: ApiKey.AlterConfigs,
  minVersion: 0,
  maxVersion: 2,
  async handle(req, ctx) {
    const responses = [];
    for (const r of req.resources) {
      responses.push(
        await apply(ctx.broker, r.resourceType, r.resourceName, req.validateOnly, () => {
          const out: Record<string, string> = {};
          for (const c of r.configs) {
            if (c.value === null) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Null value not supported for ${c.name}` };
            out[c.name] = c.value;
          }
          return out;
        }),
      );
    }
    return { throttleTimeMs: 0, responses };
  },
};

export const incrementalAlterConfigsHandler: ApiHandler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponseIn> = {
  key: ApiKey.IncrementalAlterConfigs,
  minVersion: 0,
  maxVersion: 1,
  async handle(req, ctx) {
    const responses = [];
    for (const r of req.resources) {
      responses.push(
        await apply(ctx.broker, r.resourceType, r.resourceName, req.validateOnly, (current) => {
          const out = { ...current };
          for (const c of r.configs) {
            if (!isTopicConfigName(c.name)) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Unknown topic config name: ${c.name}` };
            switch (c.configOperation) {
              case OP_SET:
                if (c.value === null) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Null value not supported for ${c.name}` };
                out[c.name] = c.value;
                break;
              case OP_DELETE:
                delete out[c.name];
                break;
              case OP_APPEND:
              case OP_SUBTRACT: {
                // Kafka: InvalidRequestException for APPEND/SUBTRACT on a non-list config.
                if (!LIST_CONFIGS.has(c.name)) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Config ${c.name} is not a list: APPEND and SUBTRACT do not apply` };
                const items = (c.value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
                const now = currentList(out, c.name);
                const merged = c.configOperation === OP_APPEND ? [...now, ...items.filter((i) => !now.includes(i))] : now.filter((i) => !items.includes(i));
                out[c.name] = merged.join(',');
                break;
              }
              default:
                return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unknown config operation ${c.configOperation}` };
            }
          }
          return out;
        }),
      );
    }
    return { throttleTimeMs: 0, responses };
  },
};
