/**
 * Golden bytes from real clients (test/fixtures/golden/<client>/<ApiName>-v<N>-{request,response}.bin, captured by
 * scripts/capture-golden.ts through a recording proxy in front of a Tern broker). Each file is one whole frame,
 * size prefix included. For every fixture:
 *   - the size prefix matches the frame;
 *   - the generated codec decodes the header and the body and consumes every byte;
 *   - re-encoding the decoded header and body gives back exactly the same bytes;
 *   - every record batch inside (Produce requests, Fetch responses) is magic v2 with a valid CRC-32C.
 * Requests come from the clients themselves, so a failure here is a client the codec cannot serve. Responses come
 * from our broker, and still must round trip.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Reader, Writer } from '../../src/protocol/codec.js';
import { crc32cJs } from '../../src/protocol/crc32c.js';
import { requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/frame.js';
import { API_SPECS, ApiKey } from '../../src/protocol/messages/index.js';
import { readRequestHeader, writeRequestHeader } from '../../src/protocol/messages/RequestHeader.js';
import { readResponseHeader, writeResponseHeader } from '../../src/protocol/messages/ResponseHeader.js';
import { REPO_ROOT, firstDiff } from './spec-model.js';

const GOLDEN_DIR = path.join(REPO_ROOT, 'test/fixtures/golden');
const UNSUPPORTED_VERSION = 35;

/**
 * Fixtures that must exist: each client's handshake and the APIs the capture script drives it through. Versions
 * are what these client builds pick against Tern's advertised ranges (client-compat.md); a change in Tern's
 * ranges that moves them shows up here and needs a re-capture.
 */
const REQUIRED: Record<string, string[]> = {
  kcat: ['ApiVersions-v3', 'Metadata-v4', 'Produce-v7', 'ListOffsets-v2', 'Fetch-v11'],
  kafkajs: [
    'ApiVersions-v2',
    'CreateTopics-v3',
    'Metadata-v6',
    'CreatePartitions-v1',
    'DescribeConfigs-v2',
    'AlterConfigs-v1',
    'DeleteTopics-v1',
    'Produce-v7',
    'ListOffsets-v3',
    'DeleteRecords-v1',
  ],
  // kafka-python probes with Metadata v0, then uses fixed versions (Metadata 1, Produce 7, Fetch 4, ListOffsets 1);
  // its admin client negotiates (Metadata 5, CreateTopics 3, DeleteTopics 3, DescribeConfigs 2 ...).
  'kafka-python': [
    'ApiVersions-v0',
    'Metadata-v0',
    'Metadata-v1',
    'Metadata-v5',
    'CreateTopics-v3',
    'CreatePartitions-v1',
    'DescribeConfigs-v2',
    'AlterConfigs-v1',
    'DeleteTopics-v3',
    'Produce-v7',
    'ListOffsets-v1',
    'Fetch-v4',
  ],
  'confluent-python': [
    'ApiVersions-v3',
    'Metadata-v4',
    'CreateTopics-v4',
    'DescribeConfigs-v1',
    'CreatePartitions-v0',
    'AlterConfigs-v0',
    'DeleteTopics-v1',
    'Produce-v7',
    'ListOffsets-v2',
    'Fetch-v11',
  ],
};

interface Fixture {
  client: string;
  file: string;
  api: string;
  key: number;
  version: number;
  kind: 'request' | 'response';
  bytes: Buffer;
}

function loadFixtures(): Fixture[] {
  if (!fs.existsSync(GOLDEN_DIR)) return [];
  const out: Fixture[] = [];
  for (const client of fs.readdirSync(GOLDEN_DIR).sort()) {
    const dir = path.join(GOLDEN_DIR, client);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const file of fs.readdirSync(dir).sort()) {
      const m = /^([A-Za-z]+)-v(\d+)-(request|response)\.bin$/.exec(file);
      if (!m) throw new Error(`unexpected fixture name ${client}/${file}`);
      const api = m[1]!;
      const key = (ApiKey as Record<string, number>)[api];
      if (key === undefined) throw new Error(`${client}/${file}: unknown API ${api}`);
      out.push({ client, file, api, key, version: Number(m[2]), kind: m[3] as 'request' | 'response', bytes: fs.readFileSync(path.join(dir, file)) });
    }
  }
  return out;
}

const fixtures = loadFixtures();

/** Walks the record batches of a records field: every one complete, magic 2, CRC-32C over attributes..end. */
function checkBatches(records: Buffer, where: string): number {
  let pos = 0;
  let n = 0;
  while (pos < records.length) {
    expect(records.length - pos, `${where}: batch header at ${pos}`).toBeGreaterThanOrEqual(61);
    const batchLength = records.readInt32BE(pos + 8);
    const end = pos + 12 + batchLength;
    expect(end, `${where}: batch at ${pos} runs past the records field`).toBeLessThanOrEqual(records.length);
    expect(records[pos + 16], `${where}: magic`).toBe(2);
    const crc = records.readUInt32BE(pos + 17);
    expect(crc32cJs(records.subarray(pos + 21, end)), `${where}: CRC-32C of batch at ${pos}`).toBe(crc);
    pos = end;
    n++;
  }
  return n;
}

/** Every non-null `records` value in a decoded Produce request or Fetch response. */
function recordsFields(api: string, kind: string, body: unknown): Buffer[] {
  const out: Buffer[] = [];
  if (api === 'Produce' && kind === 'request') {
    const b = body as { topicData: { partitionData: { records: Buffer | null }[] }[] };
    for (const t of b.topicData) for (const p of t.partitionData) if (p.records) out.push(p.records);
  }
  if (api === 'Fetch' && kind === 'response') {
    const b = body as { responses: { partitions: { records: Buffer | null }[] }[] };
    for (const t of b.responses) for (const p of t.partitions) if (p.records) out.push(p.records);
  }
  return out;
}

describe('golden fixtures', () => {
  it('exist for every client, with the handshake and the APIs each client was driven through', () => {
    const have = new Set(fixtures.map((f) => `${f.client}/${f.file}`));
    for (const [client, files] of Object.entries(REQUIRED)) {
      expect(
        fixtures.some((f) => f.client === client && f.api === 'ApiVersions' && f.kind === 'request'),
        `${client}: no ApiVersions request fixture (run the capture script)`,
      ).toBe(true);
      for (const f of files) {
        for (const kind of ['request', 'response']) expect(have.has(`${client}/${f}-${kind}.bin`), `missing fixture ${client}/${f}-${kind}.bin`).toBe(true);
      }
    }
  });

  it('every request fixture has its response, except where Kafka sends none', () => {
    for (const f of fixtures.filter((x) => x.kind === 'request')) {
      const resp = fixtures.some((x) => x.client === f.client && x.api === f.api && x.version === f.version && x.kind === 'response');
      expect(resp, `${f.client}/${f.file} has no response fixture`).toBe(true);
    }
  });
});

describe.each(fixtures.map((f) => [`${f.client}/${f.file}`, f] as const))('%s', (_name, f) => {
  it('decodes completely and re-encodes to the same bytes', () => {
    const api = API_SPECS.get(f.key)!;
    expect(f.bytes.length).toBeGreaterThanOrEqual(8);
    expect(f.bytes.readInt32BE(0), 'size prefix').toBe(f.bytes.length - 4);
    const frame = f.bytes.subarray(4);
    const r = new Reader(frame);
    const w = new Writer();
    let body: unknown;
    if (f.kind === 'request') {
      const hv = requestHeaderVersion(f.key, f.version);
      const header = readRequestHeader(r, hv);
      expect([header.requestApiKey, header.requestApiVersion]).toEqual([f.key, f.version]);
      body = api.readRequest(r, f.version);
      writeRequestHeader(w, hv, header);
      api.writeRequest(w, f.version, body as never);
    } else {
      const hv = responseHeaderVersion(f.key, f.version);
      const header = readResponseHeader(r, hv);
      // KIP-511: an ApiVersions version the broker does not serve is answered in v0 with UNSUPPORTED_VERSION.
      const v = f.key === ApiKey.ApiVersions && frame.length >= r.offset + 2 && frame.readInt16BE(r.offset) === UNSUPPORTED_VERSION ? 0 : f.version;
      body = api.readResponse(r, v);
      writeResponseHeader(w, hv, header);
      api.writeResponse(w, v, body as never);
    }
    expect(r.remaining, `${f.client}/${f.file}: bytes left after decoding`).toBe(0);
    expect(firstDiff(w.finish(), frame), `${f.client}/${f.file}: re-encoded`).toBe('equal');
    for (const rec of recordsFields(f.api, f.kind, body)) checkBatches(rec, `${f.client}/${f.file}`);
  });
});
