#!/usr/bin/python3
"""confluent-kafka-python 1.7.0 (librdkafka 2.0.2) against a live Tern broker.

Usage: confluent_client.py BOOTSTRAP TOPIC_PREFIX
Exits 0 and prints one JSON summary line on success; on the first failed check prints
"FAIL: <what>" to stderr and exits 1. Must run with /usr/bin/python3 (the Debian build that has the module).

No consumer-group APIs are needed: the consumer only assign()s (group.id is mandatory in the library
but unused without subscribe/commit).
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
from e2e_common import check, fail

BOOTSTRAP, PREFIX = sys.argv[1], sys.argv[2]
TOPIC = PREFIX + "-main"
VALIDATE_ONLY_TOPIC = PREFIX + "-validate-only"
DEADLINE_S = 20


def wait_until(what, fn, timeout=DEADLINE_S):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    fail("timed out waiting for " + what + " (last: %r)" % (last,))


def topic_config(admin, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    futures = admin.describe_configs([res], request_timeout=15)
    entries = futures[res].result(timeout=DEADLINE_S)
    return {name: e.value for name, e in entries.items()}


admin = AdminClient({"bootstrap.servers": BOOTSTRAP, "socket.timeout.ms": 10000})

# --- create_topics, validate_only, duplicate
fs = admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1,
                                   config={"retention.ms": "86400000", "cleanup.policy": "delete"})],
                         request_timeout=15)
try:
    fs[TOPIC].result(timeout=DEADLINE_S)
except KafkaException as e:
    fail("create_topics(%s) failed: %s" % (TOPIC, e))

fs = admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1)], request_timeout=15)
try:
    fs[TOPIC].result(timeout=DEADLINE_S)
    fail("create_topics on an existing topic succeeded; expected TOPIC_ALREADY_EXISTS")
except KafkaException as e:
    check(e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS,
          "create_topics on an existing topic: expected TOPIC_ALREADY_EXISTS (36), got %s" % e)

fs = admin.create_topics([NewTopic(VALIDATE_ONLY_TOPIC, num_partitions=2, replication_factor=1)],
                         validate_only=True, request_timeout=15)
try:
    fs[VALIDATE_ONLY_TOPIC].result(timeout=DEADLINE_S)
except KafkaException as e:
    fail("create_topics(validate_only=True) failed: %s" % e)

# --- list_topics
md = admin.list_topics(timeout=DEADLINE_S)
check(TOPIC in md.topics, "list_topics does not include %s: %s" % (TOPIC, sorted(md.topics)))
check(VALIDATE_ONLY_TOPIC not in md.topics, "validate_only create_topics really created %s" % VALIDATE_ONLY_TOPIC)
tmd = md.topics[TOPIC]
check(tmd.error is None, "topic %s has error %s" % (TOPIC, tmd.error))
check(sorted(tmd.partitions) == [0, 1, 2], "%s partitions: %s" % (TOPIC, sorted(tmd.partitions)))
broker_ids = sorted(md.brokers)
check(len(broker_ids) == 1, "expected one broker, got %s" % broker_ids)
for p in tmd.partitions.values():
    check(p.leader == broker_ids[0], "partition %d leader %d, broker is %d" % (p.id, p.leader, broker_ids[0]))
    check(list(p.replicas) == [broker_ids[0]] and list(p.isrs) == [broker_ids[0]],
          "partition %d replicas %s isrs %s" % (p.id, p.replicas, p.isrs))

# --- describe_configs / alter_configs
cfg = topic_config(admin, TOPIC)
check(cfg.get("retention.ms") == "86400000", "describe_configs retention.ms = %r, created with 86400000" % cfg.get("retention.ms"))
check(cfg.get("cleanup.policy") == "delete", "describe_configs cleanup.policy = %r" % cfg.get("cleanup.policy"))

res = ConfigResource(ConfigResource.Type.TOPIC, TOPIC, set_config={"retention.ms": "172800000"})
try:
    admin.alter_configs([res], request_timeout=15)[res].result(timeout=DEADLINE_S)
except KafkaException as e:
    fail("alter_configs failed: %s" % e)
cfg = topic_config(admin, TOPIC)
check(cfg.get("retention.ms") == "172800000", "after alter_configs retention.ms = %r, expected 172800000" % cfg.get("retention.ms"))

# --- create_partitions
fs = admin.create_partitions([NewPartitions(TOPIC, 4)], request_timeout=15)
try:
    fs[TOPIC].result(timeout=DEADLINE_S)
except KafkaException as e:
    fail("create_partitions(4) failed: %s" % e)
wait_until("4 partitions in metadata",
           lambda: len(admin.list_topics(topic=TOPIC, timeout=DEADLINE_S).topics[TOPIC].partitions) == 4)

# --- Producer acks=all, no idempotence, delivery reports
producer = Producer({
    "bootstrap.servers": BOOTSTRAP,
    "acks": "all",
    "enable.idempotence": False,
    "linger.ms": 5,
    "message.timeout.ms": 20000,
    "compression.type": "lz4",
})
N_PER_PARTITION = 50
base_ts = int(time.time() * 1000) - 100000
sent = {}  # (partition, seq) -> dict
reports = []


def on_delivery(err, msg):
    reports.append((err, msg.partition(), msg.offset(), msg.key(), msg.value(), msg.headers(), msg.timestamp()))


for p in range(4):
    for i in range(N_PER_PARTITION):
        key = ("k-%d-%d" % (p, i)).encode()
        value = ("value %d/%d \u00e9\u6f22 %s" % (p, i, "x" * (i * 7))).encode()
        headers = [("h-idx", str(i).encode()), ("h-bin", bytes([0, 255, p, i]))]
        ts = base_ts + i * 1000
        sent[(p, i)] = {"key": key, "value": value, "headers": headers, "ts": ts}
        producer.produce(TOPIC, value=value, key=key, partition=p, headers=headers, timestamp=ts, on_delivery=on_delivery)
    producer.poll(0)
left = producer.flush(30)
check(left == 0, "producer.flush left %d messages undelivered" % left)
check(len(reports) == 4 * N_PER_PARTITION, "got %d delivery reports for %d messages" % (len(reports), 4 * N_PER_PARTITION))
errors = [r for r in reports if r[0] is not None]
check(not errors, "delivery errors: %s" % [str(e[0]) for e in errors[:5]])
offsets = {}
for err, p, off, key, value, headers, ts in reports:
    offsets.setdefault(p, []).append((off, key))
for p in range(4):
    got = sorted(offsets.get(p, []))
    check([o for o, _ in got] == list(range(N_PER_PARTITION)),
          "partition %d delivery offsets are not 0..%d: %s" % (p, N_PER_PARTITION - 1, [o for o, _ in got][:10]))
    check([k for _, k in got] == [("k-%d-%d" % (p, i)).encode() for i in range(N_PER_PARTITION)],
          "partition %d: offsets do not follow produce order" % p)


# --- Consumer by assign() from an explicit offset
def consume(tp_list, want):
    c = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": PREFIX + "-unused-group",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "isolation.level": "read_committed",
    })
    c.assign(tp_list)
    out = []
    end = time.time() + DEADLINE_S
    eof = set()
    while time.time() < end and len(eof) < len(tp_list):
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            c.close()
            fail("consumer error: %s" % m.error())
        out.append(m)
    c.close()
    check(len(eof) == len(tp_list), "consumer did not reach the end of %s within %ds (got %d messages)" % (tp_list, DEADLINE_S, len(out)))
    check(len(out) == want, "consumed %d messages, expected %d" % (len(out), want))
    return out


def verify(m, p, i):
    s = sent[(p, i)]
    check(m.partition() == p and m.offset() == i, "expected %d@%d, got %d@%d" % (p, i, m.partition(), m.offset()))
    check(m.key() == s["key"], "%d@%d key %r != %r" % (p, i, m.key(), s["key"]))
    check(m.value() == s["value"], "%d@%d value %r != %r" % (p, i, m.value()[:60], s["value"][:60]))
    check(list(m.headers() or []) == s["headers"], "%d@%d headers %r != %r" % (p, i, m.headers(), s["headers"]))
    check(m.timestamp() == (1, s["ts"]), "%d@%d timestamp %r != (CreateTime, %d)" % (p, i, m.timestamp(), s["ts"]))


START = 17
msgs = consume([TopicPartition(TOPIC, 2, START)], N_PER_PARTITION - START)
for j, m in enumerate(msgs):
    verify(m, 2, START + j)

msgs = consume([TopicPartition(TOPIC, p, 0) for p in range(4)], 4 * N_PER_PARTITION)
seen = set()
for m in msgs:
    verify(m, m.partition(), m.offset())
    seen.add((m.partition(), m.offset()))
check(len(seen) == 4 * N_PER_PARTITION, "duplicate or missing messages across partitions")

# --- offsets_for_times, then assign from the looked-up offset
c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": PREFIX + "-unused-group", "enable.auto.commit": False})
lookups = c.offsets_for_times([
    TopicPartition(TOPIC, 1, base_ts + 30 * 1000),        # exactly message 30
    TopicPartition(TOPIC, 3, base_ts + 12 * 1000 + 500),  # between 12 and 13 -> 13
    TopicPartition(TOPIC, 0, base_ts - 5000),             # before all -> 0
    TopicPartition(TOPIC, 2, base_ts + 10 ** 9),          # after all -> -1 (end)
], timeout=DEADLINE_S)
c.close()
by_p = {tp.partition: tp for tp in lookups}
for p, want in ((1, 30), (3, 13), (0, 0), (2, -1)):
    tp = by_p.get(p)
    check(tp is not None and tp.error is None, "offsets_for_times partition %d: %s" % (p, tp and tp.error))
    check(tp.offset == want, "offsets_for_times partition %d returned offset %d, expected %d" % (p, tp.offset, want))

msgs = consume([TopicPartition(TOPIC, 3, by_p[3].offset)], N_PER_PARTITION - 13)
for j, m in enumerate(msgs):
    verify(m, 3, 13 + j)

# --- delete_topics
fs = admin.delete_topics([TOPIC], request_timeout=15)
try:
    fs[TOPIC].result(timeout=DEADLINE_S)
except KafkaException as e:
    fail("delete_topics failed: %s" % e)
wait_until("%s to disappear from list_topics" % TOPIC, lambda: TOPIC not in admin.list_topics(timeout=DEADLINE_S).topics)

print(json.dumps({"ok": True, "produced": len(reports), "partitions": 4}))
