#!/usr/bin/python3
"""kafka-python 2.0.2 against a live Tern broker: admin create/delete topics, KafkaProducer acks='all',
KafkaConsumer with assign/seek and no group_id (so no group APIs at all).

Usage: kafka_python_client.py BOOTSTRAP TOPIC_PREFIX
Exits 0 and prints a JSON summary line on success; on the first failed check prints "FAIL: <what>" to stderr
and exits 1. Must run with /usr/bin/python3 (the Debian build that has the module).
"""
import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from e2e_common import check, fail

BOOTSTRAP, PREFIX = sys.argv[1], sys.argv[2]
TOPIC = PREFIX + "-kp"
DEADLINE_S = 20


admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="tern-e2e-admin", request_timeout_ms=15000)

# --- create_topics (and the duplicate error)
try:
    resp = admin.create_topics([NewTopic(name=TOPIC, num_partitions=2, replication_factor=1)], timeout_ms=15000)
except Exception as e:  # noqa: BLE001 - any failure is a test failure with its message
    fail("create_topics failed: %r" % e)
errs = [(t, code) for (t, code, *_rest) in resp.topic_errors if code != 0]
check(not errs, "create_topics topic_errors: %s" % errs)
try:
    admin.create_topics([NewTopic(name=TOPIC, num_partitions=2, replication_factor=1)], timeout_ms=15000)
    fail("create_topics on an existing topic succeeded; expected TopicAlreadyExistsError")
except TopicAlreadyExistsError:
    pass

# list_topics goes through Metadata
topics = admin.list_topics()
check(TOPIC in topics, "list_topics does not include %s: %s" % (TOPIC, topics))

# --- KafkaProducer acks='all'
producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5, retries=0,
                         request_timeout_ms=15000, max_block_ms=15000, compression_type="gzip")
N = 40
sent = []
futures = []
for i in range(N):
    p = i % 2
    key = ("kp-key-%d" % i).encode()
    value = ("kp-value-%d-%s" % (i, "\u00fc" * i)).encode()
    headers = [("idx", str(i).encode()), ("empty", b"")]
    sent.append((p, key, value, headers))
    futures.append(producer.send(TOPIC, key=key, value=value, headers=headers, partition=p))
producer.flush(timeout=20)
acked = {}
for i, f in enumerate(futures):
    try:
        md = f.get(timeout=DEADLINE_S)
    except Exception as e:  # noqa: BLE001
        fail("send %d failed: %r" % (i, e))
    check(md.partition == sent[i][0], "send %d went to partition %d, asked %d" % (i, md.partition, sent[i][0]))
    acked[(md.partition, md.offset)] = sent[i]
producer.close(timeout=10)
for p in (0, 1):
    offs = sorted(o for (pp, o) in acked if pp == p)
    check(offs == list(range(N // 2)), "partition %d acked offsets %s, expected 0..%d" % (p, offs[:10], N // 2 - 1))

# --- KafkaConsumer: assign + seek, no group
consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None, enable_auto_commit=False,
                         auto_offset_reset="none", consumer_timeout_ms=3000, request_timeout_ms=15000)
START = 7
tps = [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)]
consumer.assign(tps)
consumer.seek(tps[0], START)
consumer.seek(tps[1], 0)
got = {}
end = time.time() + DEADLINE_S
want = (N // 2 - START) + N // 2
while time.time() < end and len(got) < want:
    batch = consumer.poll(timeout_ms=500)
    for tp, records in batch.items():
        for r in records:
            got[(r.partition, r.offset)] = r
check(len(got) == want, "consumed %d records, expected %d" % (len(got), want))
for (p, off), r in got.items():
    check(p != 0 or off >= START, "partition 0 returned offset %d before the seek position %d" % (off, START))
    exp = acked.get((p, off))
    check(exp is not None, "consumed %d@%d which was never acknowledged" % (p, off))
    _, key, value, headers = exp
    check(r.key == key, "%d@%d key %r != %r" % (p, off, r.key, key))
    check(r.value == value, "%d@%d value %r != %r" % (p, off, r.value, value))
    check(list(r.headers) == headers, "%d@%d headers %r != %r" % (p, off, r.headers, headers))
# end_offsets/beginning_offsets use ListOffsets
ends = consumer.end_offsets(tps)
begins = consumer.beginning_offsets(tps)
check(all(ends[tp] == N // 2 for tp in tps), "end_offsets %s, expected %d each" % (ends, N // 2))
check(all(begins[tp] == 0 for tp in tps), "beginning_offsets %s, expected 0" % begins)
consumer.close()

# --- delete_topics
try:
    resp = admin.delete_topics([TOPIC], timeout_ms=15000)
except Exception as e:  # noqa: BLE001
    fail("delete_topics failed: %r" % e)
errs = [(t, code) for (t, code, *_rest) in resp.topic_error_codes if code != 0]
check(not errs, "delete_topics errors: %s" % errs)
end = time.time() + DEADLINE_S
while time.time() < end and TOPIC in admin.list_topics():
    time.sleep(0.2)
check(TOPIC not in admin.list_topics(), "%s still listed after delete_topics" % TOPIC)
admin.close()

print(json.dumps({"ok": True, "acked": len(acked), "consumed": len(got)}))
