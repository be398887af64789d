/** The producer state limits in broker config and `tern start` flags: defaults, overrides, and bad values refused. */
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../src/broker/config.js';
import { mergeStartOptions } from '../../src/cli/start.js';

describe('producer state limits', () => {
  it('default to Kafka producer.id.expiration.ms and named maxima', () => {
    const c = resolveConfig({});
    expect(c.producerIdExpirationMs).toBe(86_400_000);
    expect(c.producerIdsPerPartitionMax).toBe(10_000);
    expect(c.producerSnapshotIntervalBytes).toBe(64 * 1024 * 1024);
  });

  it('take flags and refuse bad values before the broker starts', () => {
    const o = mergeStartOptions({}, { producerIdExpirationMs: '60000', producerIdsPerPartitionMax: '5' });
    expect(o).toMatchObject({ producerIdExpirationMs: 60_000, producerIdsPerPartitionMax: 5 });
    expect(resolveConfig(o)).toMatchObject({ producerIdExpirationMs: 60_000, producerIdsPerPartitionMax: 5 });
    expect(() => mergeStartOptions({}, { producerIdsPerPartitionMax: '0' })).toThrow(/producer-ids-per-partition-max/);
    expect(() => resolveConfig({ producerIdsPerPartitionMax: 2_000_000 })).toThrow(ConfigError);
    expect(() => resolveConfig({ producerIdExpirationMs: 0 })).toThrow(ConfigError);
  });
});
