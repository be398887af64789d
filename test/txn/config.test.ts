/** The producer state limits in broker config and `tern start` flags: defaults, overrides, and bad values refused. */
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../src/broker/config.js';
import { mergeStartOptions, parseConfigFile } from '../../src/cli/start.js';

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

describe('zero-ahead-bytes (native engine)', () => {
  it('defaults to 1 MiB, takes the flag (0 turns it off), refuses bad values', () => {
    expect(resolveConfig({}).zeroAheadBytes).toBe(1024 * 1024);
    const o = mergeStartOptions(parseConfigFile('zero-ahead-bytes: 0\n', 'tern.yaml'), {});
    expect(o).toMatchObject({ zeroAheadBytes: 0 });
    expect(resolveConfig(o).zeroAheadBytes).toBe(0);
    expect(mergeStartOptions({}, { zeroAheadBytes: '262144' })).toMatchObject({ zeroAheadBytes: 262_144 });
    expect(() => mergeStartOptions({}, { zeroAheadBytes: '-1' })).toThrow(/zero-ahead-bytes/);
    expect(() => resolveConfig({ zeroAheadBytes: 32 * 1024 * 1024 })).toThrow(ConfigError);
  });
});
