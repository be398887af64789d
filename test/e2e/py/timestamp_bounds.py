#!/usr/bin/python3
"""Timestamp bounds (message.timestamp.before.max.ms / after.max.ms, Kafka 3.6+) with confluent-kafka-python 1.7.0
(librdkafka 2.0.2) and kafka-python 2.0.2 against a live Tern broker: a batch with a record outside the bounds is
refused with INVALID_TIMESTAMP and nothing of it is written; a zstd batch whose second record is out of range is
refused whole (each record is checked, not only the batch header); records inside the bounds are written.

Usage: timestamp_bounds.py BOOTSTRAP TOPIC_PREFIX
Prints one JSON line on success; "FAIL: ..." on stderr and exit 1 on the first failed check.
Must run with /usr/bin/python3 (the Debian build that has both modules).
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka import KafkaProducer
from kafka.errors import InvalidTimestampError
from e2e_common import check, fail

BOOTSTRAP, PREFIX = sys.argv[1], sys.argv[2]
TOPIC = PREFIX + "-ts"
HOUR_MS = 3600 * 1000
DEADLINE_S = 20


def now_ms():
    return int(time.time() * 1000)


admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
fs = admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1,
                                   config={"message.timestamp.before.max.ms": str(HOUR_MS), "message.timestamp.after.max.ms": str(HOUR_MS)})],
                         request_timeout=15)
fs[TOPIC].result(timeout=DEADLINE_S)
described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, TOPIC)])
entries = list(described.values())[0].result(timeout=DEADLINE_S)
check(entries["message.timestamp.before.max.ms"].value == str(HOUR_MS), "before.max.ms described as %s" % entries["message.timestamp.before.max.ms"].value)
check(entries["message.timestamp.difference.max.ms"].value == "9223372036854775807", "difference.max.ms default described as %s" % entries["message.timestamp.difference.max.ms"].value)

# confluent-kafka-python: one good zstd batch, then one zstd batch of a good record followed by an old one
results = {}


def report(err, msg):
    results[msg.key().decode()] = err.code() if err is not None else 0


# Values long and repetitive enough that librdkafka really compresses (it sends a batch uncompressed when
# compression would not make it smaller); records are told apart by key.
PAD = b"z" * 2000
p = Producer({"bootstrap.servers": BOOTSTRAP, "compression.type": "zstd", "linger.ms": 200, "acks": "all", "retries": 0})
p.produce(TOPIC, key=b"ck-good", value=PAD, partition=0, timestamp=now_ms(), on_delivery=report)
check(p.flush(DEADLINE_S) == 0, "ck-good not delivered")
p.produce(TOPIC, key=b"ck-mix-good", value=PAD, partition=0, timestamp=now_ms(), on_delivery=report)
p.produce(TOPIC, key=b"ck-mix-old", value=PAD, partition=0, timestamp=now_ms() - 2 * HOUR_MS, on_delivery=report)
p.produce(TOPIC, key=b"ck-future", value=PAD, partition=0, timestamp=now_ms() + 2 * HOUR_MS, on_delivery=report)
check(p.flush(DEADLINE_S) == 0, "delivery reports missing")
check(results.get("ck-good") == 0, "ck-good: %s" % results.get("ck-good"))
for v in ("ck-mix-good", "ck-mix-old", "ck-future"):
    check(results.get(v) == KafkaError.INVALID_TIMESTAMP, "%s delivery report: %s, expected INVALID_TIMESTAMP (%d)" % (v, results.get(v), KafkaError.INVALID_TIMESTAMP))

# kafka-python (Produce v7)
kp = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", retries=0, request_timeout_ms=15000, max_block_ms=15000)
try:
    kp.send(TOPIC, key=b"kp-old", value=b"v", partition=0, timestamp_ms=now_ms() - 2 * HOUR_MS).get(timeout=DEADLINE_S)
    fail("kafka-python: an old timestamp was acknowledged")
except InvalidTimestampError:
    pass
kp.send(TOPIC, key=b"kp-good", value=b"v", partition=0, timestamp_ms=now_ms()).get(timeout=DEADLINE_S)
kp.close()

# only the records inside the bounds were written
c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": PREFIX + "-ts-reader", "enable.auto.commit": False})
c.assign([TopicPartition(TOPIC, 0, 0)])
values = []
deadline = time.time() + 10
while time.time() < deadline and len(values) < 2:
    m = c.poll(0.2)
    if m is None:
        continue
    check(not m.error(), "consumer error: %s" % (m.error(),))
    values.append(m.key().decode())
time.sleep(0.5)
m = c.poll(0.5)
check(m is None, "an extra record was stored: %s" % (m and m.key(),))
c.close()
check(values == ["ck-good", "kp-good"], "stored records (keys): %s" % values)
print(json.dumps({"ok": True, "stored": values, "refused": sorted(v for v, code in results.items() if code != 0) + ["kp-old"]}))
