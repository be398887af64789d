import { describe, expect, it } from 'vitest';
import {
  defaultLogConfig,
  isLogConfigName,
  logConfigDefaults,
  logConfigFromKafka,
  logConfigToKafka,
  validateLogConfig,
} from '../../src/log/index.js';

describe('log config from Kafka topic configs', () => {
  it('parses supported names over the defaults', () => {
    const result = logConfigFromKafka({
      'retention.ms': '1000',
      'retention.bytes': '-1',
      'segment.bytes': '1048576',
      'cleanup.policy': 'delete, compact',
      'message.timestamp.type': 'LogAppendTime',
    });
    expect(result).toEqual({
      ok: true,
      config: {
        ...defaultLogConfig,
        retentionMs: 1000,
        segmentBytes: 1048576,
        cleanupPolicy: 'compact,delete',
        messageTimestampType: 'LogAppendTime',
      },
    });
  });

  it('answers bad values and unknown names with an error string', () => {
    const bad: [string, string][] = [
      ['retention.ms', 'abc'],
      ['retention.ms', '-2'],
      ['retention.ms', '1.5'],
      ['segment.bytes', '10'],
      ['segment.bytes', '4294967296'],
      ['segment.ms', '0'],
      ['max.message.bytes', '-1'],
      ['cleanup.policy', 'delete,shred'],
      ['message.timestamp.type', 'createtime'],
      ['no.such.config', '1'],
    ];
    for (const [name, value] of bad) {
      const result = logConfigFromKafka({ [name]: value });
      expect(result.ok, `${name}=${value}`).toBe(false);
      if (!result.ok) expect(result.error).toContain(name);
    }
  });

  it('resets a config to its default with null', () => {
    const base = { ...defaultLogConfig, retentionMs: 5 };
    expect(logConfigFromKafka({ 'retention.ms': null }, base)).toEqual({ ok: true, config: defaultLogConfig });
  });

  it('lists supported names with Kafka defaults, round-trips, and validates configs built in code', () => {
    const defaults = Object.fromEntries(logConfigDefaults.map((d) => [d.name, d.defaultValue]));
    expect(defaults).toMatchObject({
      'segment.bytes': '1073741824',
      'segment.ms': '604800000',
      'retention.ms': '604800000',
      'retention.bytes': '-1',
      'cleanup.policy': 'delete',
      'max.message.bytes': '1048588',
      'index.interval.bytes': '4096',
      'message.timestamp.type': 'CreateTime',
    });
    expect(isLogConfigName('retention.ms')).toBe(true);
    expect(isLogConfigName('compression.type')).toBe(false);
    expect(logConfigFromKafka(logConfigToKafka(defaultLogConfig))).toEqual({ ok: true, config: defaultLogConfig });
    expect(validateLogConfig(defaultLogConfig)).toBeNull();
    expect(validateLogConfig({ ...defaultLogConfig, segmentBytes: 1 })).toMatch(/segment.bytes/);
  });
});
