// Pure parts of the CLI: config-file parsing and merging for `tern start`, offsets, tables, error lines.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { mergeStartOptions, parseConfigFile } from '../../src/cli/start.js';
import { parseStartAt } from '../../src/cli/consume.js';
import { CliError, formatError, pairs, table } from '../../src/cli/output.js';
import { ConnectionError, KafkaError } from '../../src/client/index.js';

describe('tern start settings', () => {
  it('uses the defaults when nothing is given', () => {
    expect(mergeStartOptions({}, {})).toEqual({ listen: '127.0.0.1:9092', dataDir: './tern-data', nodeId: 0, logLevel: 'info', autoCreateTopics: true, defaultPartitions: 1 });
  });

  it('takes the retention check interval (log-retention-check-interval-ms) from a flag or the file, and checks it', () => {
    expect(mergeStartOptions({}, { retentionCheckIntervalMs: '250' }).retentionCheckIntervalMs).toBe(250);
    expect(mergeStartOptions(parseConfigFile('log-retention-check-interval-ms: 1000\n', 'f'), {}).retentionCheckIntervalMs).toBe(1000);
    expect(() => mergeStartOptions({}, { retentionCheckIntervalMs: '0' })).toThrow(/log-retention-check-interval-ms must be an integer >= 1/);
  });

  it('takes the broker-wide topic defaults (log-retention-ms, log-retention-bytes, log-segment-bytes, log-roll-ms, message-max-bytes)', () => {
    const o = mergeStartOptions(parseConfigFile('log-retention-ms: -1\nmessage-max-bytes: 2000\n', 'f'), { logSegmentBytes: '1048576', messageMaxBytes: '5000' });
    expect(o).toMatchObject({ logRetentionMs: -1, logSegmentBytes: 1048576, messageMaxBytes: 5000 });
    expect(() => mergeStartOptions({}, { logRollMs: '1h' })).toThrow(/log-roll-ms must be an integer, got '1h'/);
  });

  it('reads YAML and JSON, with kebab-case or camelCase keys', () => {
    expect(parseConfigFile('listen: 0.0.0.0:9093\ndata-dir: /d\nnode-id: 2\nlog-level: debug\nadvertise: h:1\n', 'f')).toEqual({
      listen: '0.0.0.0:9093',
      dataDir: '/d',
      nodeId: 2,
      logLevel: 'debug',
      advertise: 'h:1',
    });
    expect(parseConfigFile('{"dataDir": "/j", "nodeId": 1}', 'f')).toEqual({ dataDir: '/j', nodeId: 1 });
    expect(parseConfigFile('', 'f')).toEqual({});
    expect(parseConfigFile('# only a comment\n', 'f')).toEqual({});
  });

  it('lets flags win over the file, and the file over the defaults', () => {
    const file = parseConfigFile('listen: 127.0.0.1:1000\nlog-level: warn\nnode-id: 4\n', 'f');
    expect(mergeStartOptions(file, { listen: '127.0.0.1:2000' })).toEqual({ listen: '127.0.0.1:2000', dataDir: './tern-data', nodeId: 4, logLevel: 'warn', autoCreateTopics: true, defaultPartitions: 1 });
  });

  it('refuses unknown keys, wrong types and bad values', () => {
    expect(() => parseConfigFile('colour: blue\n', 'x.yaml')).toThrow(/x\.yaml: unknown setting 'colour'/);
    expect(() => parseConfigFile('- a\n- b\n', 'x.yaml')).toThrow(/expected a mapping/);
    expect(() => parseConfigFile('listen: [1, 2]\n', 'x.yaml')).toThrow(/must be a string, a number or a boolean/);
    expect(() => parseConfigFile('listen: "unterminated\n', 'x.yaml')).toThrow(CliError);
    expect(() => mergeStartOptions({}, { nodeId: '1.5' })).toThrow(/node-id must be an integer/);
    expect(() => mergeStartOptions({}, { logLevel: 'chatty' })).toThrow(/log-level must be one of/);
    expect(() => mergeStartOptions({}, { autoCreateTopics: 'yes' })).toThrow(/auto-create-topics must be true or false/);
    expect(() => mergeStartOptions({}, { defaultPartitions: '0' })).toThrow(/num-partitions must be an integer >= 1/);
    // booleans and numbers from a YAML file, flags as strings
    const fromFile = parseConfigFile('auto-create-topics: false\nnum-partitions: 6\n', 'f');
    expect(mergeStartOptions(fromFile, {})).toMatchObject({ autoCreateTopics: false, defaultPartitions: 6 });
    expect(mergeStartOptions(fromFile, { autoCreateTopics: 'true', defaultPartitions: '3' })).toMatchObject({ autoCreateTopics: true, defaultPartitions: 3 });
    expect(() => mergeStartOptions({ listen: 'nowhere' }, {})).toThrow(/listen must be HOST:PORT/);
    expect(mergeStartOptions({ listen: '[::1]:9092', advertise: ':9092' }, {})).toMatchObject({ listen: '[::1]:9092', advertise: ':9092' });
  });
});

describe('consume --offset', () => {
  it('parses start, end, offsets and @timestamps', () => {
    expect(parseStartAt('start')).toEqual({ kind: 'start' });
    expect(parseStartAt('end')).toEqual({ kind: 'end' });
    expect(parseStartAt('42')).toEqual({ kind: 'offset', offset: 42 });
    expect(parseStartAt('@1700000000000')).toEqual({ kind: 'time', timestampMs: 1700000000000 });
    for (const bad of ['', '-1', '1.5', '@', '@x', 'later']) expect(() => parseStartAt(bad)).toThrow(InvalidArgumentError);
  });
});

describe('output', () => {
  it('aligns table columns and upper-cases headers', () => {
    expect(table(['name', 'partitions'], [['a', 1], ['longer-name', 12]])).toBe('NAME         PARTITIONS\na            1\nlonger-name  12');
    expect(table(['a', 'b'], [])).toBe('A  B');
    expect(pairs([['id', 'x'], ['controller', 0]])).toBe('ID          x\nCONTROLLER  0');
  });

  it('formats errors as one line', () => {
    expect(formatError(new KafkaError(36, "Topic 'x' already exists."))).toBe("error: TOPIC_ALREADY_EXISTS: Topic 'x' already exists.");
    expect(formatError(new KafkaError(3))).toBe('error: UNKNOWN_TOPIC_OR_PARTITION: This server does not host this topic-partition.');
    expect(formatError(new KafkaError(3, null, { topic: 'nope', partition: 2 }))).toBe(
      "error: UNKNOWN_TOPIC_OR_PARTITION: This server does not host this topic-partition. (topic 'nope', partition 2)",
    );
    expect(formatError(new KafkaError(36, "Topic 'x' already exists.", { topic: 'x' }))).toBe("error: TOPIC_ALREADY_EXISTS: Topic 'x' already exists.");
    expect(formatError(new ConnectionError('ERR_TERN_CONNECT', 'cannot connect to h:1: connection refused', 'h:1'))).toBe('error: cannot connect to h:1: connection refused');
    expect(formatError('odd')).toBe('error: odd');
  });
});
