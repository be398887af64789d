#!/usr/bin/python3
"""A consumer group with kafka-python 2.0.2 (fixed versions: JoinGroup v2, SyncGroup/Heartbeat/LeaveGroup v1,
OffsetCommit v2 with retention_time, OffsetFetch v1, FindCoordinator v0) against a live Tern broker: a member
consumes and commits, leaves; a second member resumes exactly after the committed offsets.

Usage: groups_kafka_python.py BOOTSTRAP PREFIX
"""
import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from e2e_common import check, fail

BOOTSTRAP, PREFIX = sys.argv[1], sys.argv[2]
TOPIC, GROUP = PREFIX + "-kp-group", PREFIX + "-kp-g"
DEADLINE_S = 40


admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=15000)
admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1)])
admin.close()

producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
for i in range(60):
    producer.send(TOPIC, value=("k%d" % i).encode(), partition=i % 2)
producer.flush(DEADLINE_S)
producer.close()


def member():
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=GROUP, auto_offset_reset="earliest", enable_auto_commit=False,
                      session_timeout_ms=10000, heartbeat_interval_ms=1000, consumer_timeout_ms=200)
    c.subscribe([TOPIC])
    return c


def read(c, want, got):
    end = time.time() + DEADLINE_S
    while len(got) < want and time.time() < end:
        for tp, msgs in c.poll(timeout_ms=200, max_records=want - len(got)).items():
            for m in msgs:
                got.append((m.partition, m.offset))
    check(len(got) >= want, "read %d of %d" % (len(got), want))


first = []
a = member()
read(a, 40, first)
a.commit()
committed = {p: a.committed(TopicPartition(TOPIC, p)) for p in range(2)}
a.close()  # LeaveGroup v1
expected = {}
for p, o in first:
    expected[p] = max(expected.get(p, 0), o + 1)
check(committed == expected, "committed %r, expected %r" % (committed, expected))

second = []
b = member()
read(b, 20, second)
time.sleep(0.5)
extra = b.poll(timeout_ms=500)
check(sum(len(v) for v in extra.values()) == 0, "more records than produced")
b.commit()
final = {p: b.committed(TopicPartition(TOPIC, p)) for p in range(2)}
b.close()
check(not (set(first) & set(second)), "records read twice: %r" % sorted(set(first) & set(second))[:5])
check(sorted(first + second) == sorted((i % 2, i // 2) for i in range(60)), "not every record exactly once")
check(final == {0: 30, 1: 30}, "final committed %r" % final)
print(json.dumps({"ok": True, "first": len(first), "second": len(second)}))
