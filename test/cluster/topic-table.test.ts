/**
 * TopicTable: durable across reopen, replaced atomically (temp file + rename, a leftover temp file ignored),
 * stable cluster id, topic ids non-zero and unique, and Kafka's topic name rules.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { TopicTable, collidingTopic, collisionMessage, topicNameError } from '../../src/cluster/index.js';

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tern-topic-table-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const FILE = 'topics.json';

describe('TopicTable', () => {
  it('a new table has a Kafka-style cluster id (22 chars, url-safe base64) and is written at once', async () => {
    const dir = tempDir();
    const t = await TopicTable.open(dir);
    expect(t.clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(t.list()).toEqual([]);
    expect(existsSync(path.join(dir, FILE))).toBe(true);
    expect(existsSync(path.join(dir, `${FILE}.tmp`))).toBe(false);
  });

  it('keeps the cluster id across reopens; a different data dir gets a different one', async () => {
    const dir = tempDir();
    const id = (await TopicTable.open(dir)).clusterId;
    expect((await TopicTable.open(dir)).clusterId).toBe(id);
    expect((await TopicTable.open(dir)).clusterId).toBe(id);
    expect((await TopicTable.open(tempDir())).clusterId).not.toBe(id);
  });

  it('persists committed topics (name, id, partitions, configs) across reopen', async () => {
    const dir = tempDir();
    const t = await TopicTable.open(dir);
    const a = t.add('alpha', 3, { 'retention.ms': '1000' });
    const b = t.add('beta', 1, {});
    await t.commit();
    const again = await TopicTable.open(dir);
    expect(again.get('alpha')).toEqual(a);
    expect(again.get('beta')).toEqual(b);
    expect(again.getById(a.id)!.name).toBe('alpha');
    expect(again.list().map((x) => x.name).sort()).toEqual(['alpha', 'beta']);
  });

  it('persists changes: partitions, configs, removal', async () => {
    const dir = tempDir();
    const t = await TopicTable.open(dir);
    const a = t.add('a', 1, { 'cleanup.policy': 'compact' });
    t.add('b', 1, {});
    await t.commit();
    t.setPartitions('a', 5);
    t.setConfigs('a', { 'retention.ms': '5' });
    t.remove('b');
    await t.commit();
    const again = await TopicTable.open(dir);
    expect(again.get('a')).toEqual({ ...a, partitions: 5, configs: { 'retention.ms': '5' } });
    expect(again.get('b')).toBeUndefined();
  });

  it('does not persist what was not committed', async () => {
    const dir = tempDir();
    const t = await TopicTable.open(dir);
    t.add('kept', 1, {});
    await t.commit();
    t.add('lost', 1, {});
    expect((await TopicTable.open(dir)).list().map((x) => x.name)).toEqual(['kept']);
  });

  it('ignores a leftover temp file from an interrupted write (the old table stays)', async () => {
    const dir = tempDir();
    const t = await TopicTable.open(dir);
    t.add('committed', 2, {});
    await t.commit();
    // A crash mid-write leaves a torn temp file beside the real one.
    writeFileSync(path.join(dir, `${FILE}.tmp`), '{"version":1,"clusterId":"torn","topics":[{"name":"half');
    const again = await TopicTable.open(dir);
    expect(again.clusterId).toBe(t.clusterId);
    expect(again.list().map((x) => x.name)).toEqual(['committed']);
    // The next commit replaces the leftover and the table is intact.
    again.add('next', 1, {});
    await again.commit();
    expect((await TopicTable.open(dir)).list().map((x) => x.name).sort()).toEqual(['committed', 'next']);
  });

  it('replaces the file by rename (a new inode), never rewriting it in place', async () => {
    const dir = tempDir();
    const t = await TopicTable.open(dir);
    const before = statSync(path.join(dir, FILE)).ino;
    t.add('x', 1, {});
    await t.commit();
    expect(statSync(path.join(dir, FILE)).ino).not.toBe(before);
    expect(existsSync(path.join(dir, `${FILE}.tmp`))).toBe(false);
    expect(JSON.parse(readFileSync(path.join(dir, FILE), 'utf8'))).toMatchObject({ version: 1, clusterId: t.clusterId });
  });

  it('refuses to open a corrupt table instead of silently starting an empty cluster', async () => {
    const dir = tempDir();
    const t = await TopicTable.open(dir);
    t.add('precious', 1, {});
    await t.commit();
    writeFileSync(path.join(dir, FILE), '{ not json');
    await expect(TopicTable.open(dir)).rejects.toThrow();
  });

  it('serializes concurrent commits; the file ends with the latest state', async () => {
    const dir = tempDir();
    const t = await TopicTable.open(dir);
    const commits: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      t.add(`t${i}`, 1, {});
      commits.push(t.commit());
    }
    await Promise.all(commits);
    expect((await TopicTable.open(dir)).list()).toHaveLength(20);
  });

  it('gives every topic a unique, non-zero 32-hex id; a re-added name gets a new id', async () => {
    const t = await TopicTable.open(tempDir());
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const rec = t.add(`t${i}`, 1, {});
      expect(rec.id).toMatch(/^[0-9a-f]{32}$/);
      expect(rec.id).not.toMatch(/^0+$/);
      ids.add(rec.id);
    }
    expect(ids.size).toBe(200);
    const old = t.get('t0')!.id;
    t.remove('t0');
    expect(t.getById(old)).toBeUndefined();
    expect(t.add('t0', 1, {}).id).not.toBe(old);
    expect(() => t.add('t1', 1, {})).toThrow();
  });
});

describe('topicNameError (Kafka rules)', () => {
  it('accepts legal names', () => {
    for (const n of ['a', 'A.b_c-9', 'x'.repeat(249), '__consumer_offsets', '...']) expect(topicNameError(n), n).toBeNull();
  });
  it('rejects empty, "." and "..", over 249 chars, and characters outside [a-zA-Z0-9._-]', () => {
    for (const n of ['', '.', '..', 'x'.repeat(250), 'a b', 'a/b', 'a:b', 'ä', 'a\nb']) expect(topicNameError(n), JSON.stringify(n)).not.toBeNull();
  });
});

describe('collidingTopic (Kafka: names equal up to . vs _ collide)', () => {
  it('finds the existing topic a new name differs from only by . vs _, in any position and mix', () => {
    const existing = ['orders.eu', 'a_b.c', 'plain', 'x-y'];
    expect(collidingTopic('orders_eu', existing)).toBe('orders.eu');
    expect(collidingTopic('a.b_c', existing)).toBe('a_b.c');
    expect(collidingTopic('a.b.c', existing)).toBe('a_b.c');
    expect(collidingTopic('a_b_c', existing)).toBe('a_b.c');
    expect(collisionMessage('orders_eu', 'orders.eu')).toBe("Topic 'orders_eu' collides with existing topic: orders.eu");
  });

  it('the same name, other characters, other lengths and names without . or _ do not collide', () => {
    const existing = ['orders.eu', 'x-y', 'plain'];
    expect(collidingTopic('orders.eu', existing)).toBeNull(); // TOPIC_ALREADY_EXISTS, not a collision
    expect(collidingTopic('orders-eu', existing)).toBeNull();
    expect(collidingTopic('orders.eu.', existing)).toBeNull();
    expect(collidingTopic('x_y', existing)).toBeNull(); // '-' is not interchangeable
    expect(collidingTopic('plain', existing)).toBeNull();
    expect(collidingTopic('Orders_eu', existing)).toBeNull(); // case matters
  });
});
