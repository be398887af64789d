import { describe, expect, it } from 'vitest';
import {
  defaultLogConfig,
  isLogConfigName,
  logConfigDefaults,
  logConfigFromKafka,
  logConfigToKafka,
  timestampAfterMaxMs,
  timestampBeforeMaxMs,
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

describe('timestamp bounds (message.timestamp.before/after/difference.max.ms)', () => {
  const LONG_MAX = '9223372036854775807';

  it('default to Long.MAX_VALUE (no bound), reported as Kafka writes it, and round-trip', () => {
    const defaults = Object.fromEntries(logConfigDefaults.map((d) => [d.name, d.defaultValue]));
    expect(defaults).toMatchObject({ 'message.timestamp.difference.max.ms': LONG_MAX, 'message.timestamp.before.max.ms': LONG_MAX, 'message.timestamp.after.max.ms': LONG_MAX });
    expect(timestampBeforeMaxMs(defaultLogConfig)).toBe(Infinity);
    expect(timestampAfterMaxMs(defaultLogConfig)).toBe(Infinity);
    const parsed = logConfigFromKafka({ 'message.timestamp.before.max.ms': '3600000', 'message.timestamp.after.max.ms': LONG_MAX });
    expect(parsed).toEqual({ ok: true, config: { ...defaultLogConfig, messageTimestampBeforeMaxMs: 3600000 } });
    if (parsed.ok) expect(logConfigToKafka(parsed.config)).toMatchObject({ 'message.timestamp.before.max.ms': '3600000', 'message.timestamp.after.max.ms': LONG_MAX });
    expect(validateLogConfig({ ...defaultLogConfig, messageTimestampAfterMaxMs: 0 })).toBeNull();
  });

  it('before/after fall back to difference.max.ms while at their default, as Kafka LogConfig does', () => {
    const diff = logConfigFromKafka({ 'message.timestamp.difference.max.ms': '60000' });
    expect(diff.ok && [timestampBeforeMaxMs(diff.config), timestampAfterMaxMs(diff.config)]).toEqual([60000, 60000]);
    const both = logConfigFromKafka({ 'message.timestamp.difference.max.ms': '60000', 'message.timestamp.after.max.ms': '1000' });
    expect(both.ok && [timestampBeforeMaxMs(both.config), timestampAfterMaxMs(both.config)]).toEqual([60000, 1000]);
    // set explicitly to Long.MAX_VALUE it is still "the default": difference.max.ms decides
    const explicitMax = logConfigFromKafka({ 'message.timestamp.difference.max.ms': '5', 'message.timestamp.before.max.ms': LONG_MAX });
    expect(explicitMax.ok && timestampBeforeMaxMs(explicitMax.config)).toBe(5);
  });

  it('accept 0..Long.MAX_VALUE; values past 2^53 ms bound nothing real and are held as MAX_SAFE_INTEGER', () => {
    for (const name of ['message.timestamp.difference.max.ms', 'message.timestamp.before.max.ms', 'message.timestamp.after.max.ms']) {
      for (const bad of ['-1', 'abc', '1.5', '9223372036854775808', '']) {
        const r = logConfigFromKafka({ [name]: bad });
        expect(r.ok, `${name}=${bad}`).toBe(false);
        if (!r.ok) expect(r.error).toContain(name);
      }
      expect(logConfigFromKafka({ [name]: '0' }).ok).toBe(true);
    }
    const big = logConfigFromKafka({ 'message.timestamp.after.max.ms': '9223372036854775806' });
    expect(big.ok && big.config.messageTimestampAfterMaxMs).toBe(Number.MAX_SAFE_INTEGER);
  });
});
