#!/usr/bin/python3
"""Consumer groups with confluent-kafka-python 1.7.0 (librdkafka 2.0.2: JoinGroup v5, SyncGroup v3,
OffsetCommit v7, OffsetFetch v7) against a live Tern broker.

Usage: groups_confluent.py BOOTSTRAP PREFIX SCENARIO
  resume       a member consumes part of a topic, commits, closes; a new member resumes exactly after it
  cooperative  partition.assignment.strategy=cooperative-sticky: a second member joining takes half the
               partitions incrementally (the first member revokes only those, never all)
  static       group.instance.id members: one restarts within its session timeout and gets its partitions
               back without a rebalance (the other member sees no revoke/assign)
Prints one JSON line on success; "FAIL: ..." on stderr and exit 1 on the first failed check.
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from e2e_common import check, fail

BOOTSTRAP, PREFIX, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
DEADLINE_S = 40


def create_topic(name, partitions):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)], request_timeout=15)
    fs[name].result(timeout=DEADLINE_S)


def produce(topic, partitions, count, start=0):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all"})
    for i in range(start, start + count):
        p.produce(topic, value=("m%d" % i).encode(), partition=i % partitions)
    left = p.flush(DEADLINE_S)
    check(left == 0, "%d messages not delivered" % left)


def consumer(group, extra=None):
    conf = {
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
        "topic.metadata.refresh.interval.ms": 1000,
    }
    conf.update(extra or {})
    return Consumer(conf)


def poll_until(consumers, done, what, timeout=DEADLINE_S, on_msg=None):
    end = time.time() + timeout
    while time.time() < end:
        for c in consumers:
            m = c.poll(0.1)
            if m is not None and m.error() is None and on_msg is not None:
                on_msg(c, m)
        if done():
            return
    fail("timed out waiting for " + what)


def resume():
    topic, group = PREFIX + "-resume", PREFIX + "-resume-g"
    create_topic(topic, 3)
    produce(topic, 3, 90)
    first = []
    a = consumer(group)
    a.subscribe([topic])
    poll_until([a], lambda: len(first) >= 50, "first member to read 50", on_msg=lambda c, m: first.append((m.partition(), m.offset())))
    a.commit(asynchronous=False)
    committed = {tp.partition: tp.offset for tp in a.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)}
    a.close()
    expected_next = {}
    for p, o in first:
        expected_next[p] = max(expected_next.get(p, 0), o + 1)
    check(all(committed[p] == expected_next.get(p, -1001) or (p not in expected_next and committed[p] < 0) for p in range(3)),
          "committed %r, expected %r" % (committed, expected_next))
    second = []
    b = consumer(group)
    b.subscribe([topic])
    poll_until([b], lambda: len(first) + len(second) >= 90, "second member to read the rest", on_msg=lambda c, m: second.append((m.partition(), m.offset())))
    time.sleep(0.5)
    while True:  # nothing more must come
        m = b.poll(0.2)
        if m is None:
            break
        if m.error() is None:
            second.append((m.partition(), m.offset()))
    b.commit(asynchronous=False)
    b.close()
    check(len(set(first) & set(second)) == 0, "records read by both members: %r" % sorted(set(first) & set(second))[:5])
    check(sorted(first + second) == sorted((i % 3, i // 3) for i in range(90)), "not every record exactly once")
    for p in range(3):
        first_of_b = min([o for (pp, o) in second if pp == p] or [None]) if any(pp == p for pp, _ in second) else None
        if first_of_b is not None:
            check(first_of_b == committed[p] if committed[p] >= 0 else first_of_b == 0, "partition %d resumed at %r, committed %r" % (p, first_of_b, committed[p]))
    return {"first": len(first), "second": len(second)}


def cooperative():
    topic, group = PREFIX + "-coop", PREFIX + "-coop-g"
    create_topic(topic, 6)
    produce(topic, 6, 60)
    events = {"a": [], "b": []}

    def tracker(name):
        def on_assign(c, parts):
            events[name].append(("assign", sorted(p.partition for p in parts)))

        def on_revoke(c, parts):
            events[name].append(("revoke", sorted(p.partition for p in parts)))
        return on_assign, on_revoke

    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    a = consumer(group, conf)
    aa, ar = tracker("a")
    a.subscribe([topic], on_assign=aa, on_revoke=ar)
    poll_until([a], lambda: len(a.assignment()) == 6, "first member to own all 6 partitions")
    b = consumer(group, conf)
    ba, br = tracker("b")
    b.subscribe([topic], on_assign=ba, on_revoke=br)
    poll_until([a, b], lambda: len(a.assignment()) == 3 and len(b.assignment()) == 3, "3 + 3 after the second member joined")
    owned_a = sorted(p.partition for p in a.assignment())
    owned_b = sorted(p.partition for p in b.assignment())
    check(sorted(owned_a + owned_b) == list(range(6)), "assignment overlaps: %r %r" % (owned_a, owned_b))
    revokes = [parts for (kind, parts) in events["a"] if kind == "revoke"]
    check(len(revokes) >= 1, "first member revoked nothing: %r" % events["a"])
    check(all(len(parts) < 6 for parts in revokes), "first member revoked everything (eager, not incremental): %r" % events["a"])
    check(sorted(sum(revokes, [])) == owned_b, "revoked %r but the second member owns %r" % (revokes, owned_b))
    b.close()
    # The remaining member gets the three partitions back, incrementally.
    poll_until([a], lambda: len(a.assignment()) == 6, "first member to own all 6 again after the second left")
    a.close()
    return {"events": events}


def static():
    topic, group = PREFIX + "-static", PREFIX + "-static-g"
    create_topic(topic, 4)
    events = {"a": [], "b": [], "a2": []}

    def tracker(name):
        def on_assign(c, parts):
            events[name].append(("assign", sorted(p.partition for p in parts)))

        def on_revoke(c, parts):
            events[name].append(("revoke", sorted(p.partition for p in parts)))
        return on_assign, on_revoke

    a = consumer(group, {"group.instance.id": "static-a"})
    b = consumer(group, {"group.instance.id": "static-b"})
    aa, ar = tracker("a")
    ba, br = tracker("b")
    a.subscribe([topic], on_assign=aa, on_revoke=ar)
    b.subscribe([topic], on_assign=ba, on_revoke=br)
    poll_until([a, b], lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2, "2 + 2 among the static members")
    time.sleep(1.5)  # let any trailing rebalance settle
    for _ in range(10):
        a.poll(0.1)
        b.poll(0.1)
    owned_a = sorted(p.partition for p in a.assignment())
    b_events_before = list(events["b"])
    a.close()  # a static member sends no LeaveGroup: its partitions stay reserved for session.timeout.ms
    a2 = consumer(group, {"group.instance.id": "static-a"})
    a2a, a2r = tracker("a2")
    a2.subscribe([topic], on_assign=a2a, on_revoke=a2r)
    poll_until([a2, b], lambda: len(a2.assignment()) == 2, "restarted static member to get its partitions")
    for _ in range(20):  # b keeps polling for 2 s: it must see no rebalance
        b.poll(0.1)
        a2.poll(0.0)
    owned_a2 = sorted(p.partition for p in a2.assignment())
    check(owned_a2 == owned_a, "restarted member got %r, had %r" % (owned_a2, owned_a))
    check(events["b"] == b_events_before, "the other member saw a rebalance: %r -> %r" % (b_events_before, events["b"]))
    b_after = list(events["b"])
    a2.close()
    b.close()
    return {"a": owned_a, "b_events": b_after, "b_events_before_restart": b_events_before}


scenarios = {"resume": resume, "cooperative": cooperative, "static": static}
out = scenarios[SCENARIO]()
out["ok"] = True
print(json.dumps(out))
