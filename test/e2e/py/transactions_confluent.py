#!/usr/bin/python3
"""Transactions with confluent-kafka-python 1.7.0 (librdkafka 2.0.2: FindCoordinator v2 key type 1,
InitProducerId v4, AddPartitionsToTxn v0, EndTxn v1) against a live Tern broker.

Usage: transactions_confluent.py BOOTSTRAP PREFIX SCENARIO
  init     init_transactions on two producers of one transactional id (the second fences the first),
           begin/commit and begin/abort without records (librdkafka sends no EndTxn then)
  records  begin/produce/commit,
           begin/produce/abort; a read_committed consumer sees exactly the committed records, a
           read_uncommitted one sees both
  times    offsets_for_times (ListOffsets by timestamp) while a transaction is open: read_committed finds
           nothing at or past the last stable offset (-1), read_uncommitted finds the open record; after
           the commit read_committed finds it too
Prints one JSON line on success; "FAIL: ..." on stderr and exit 1 on the first failed check.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from e2e_common import check, fail

BOOTSTRAP, PREFIX, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
DEADLINE_S = 30


def producer(txn_id, timeout_ms=60000):
    return Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": txn_id, "transaction.timeout.ms": timeout_ms, "enable.idempotence": True})


def create_topic(name, partitions):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)], request_timeout=15)
    fs[name].result(timeout=DEADLINE_S)


def consume_all(topic, partitions, isolation, expect_at_least):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": PREFIX + "-" + isolation, "isolation.level": isolation, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values = []
    deadline = time.time() + 10
    quiet_until = None
    while time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            if len(values) >= expect_at_least:
                quiet_until = quiet_until or time.time() + 1.0
                if time.time() > quiet_until:
                    break
            continue
        if m.error():
            fail("consumer (%s) error: %s" % (isolation, m.error()))
        values.append(m.value().decode())
    c.close()
    return sorted(values)


def scenario_init():
    txn_id = PREFIX + "-init"
    p1 = producer(txn_id)
    p1.init_transactions(DEADLINE_S)
    p1.begin_transaction()
    p1.commit_transaction(DEADLINE_S)
    p1.begin_transaction()
    p1.abort_transaction(DEADLINE_S)
    p2 = producer(txn_id, 45000)
    p2.init_transactions(DEADLINE_S)
    p2.begin_transaction()
    p2.commit_transaction(DEADLINE_S)
    return {"ok": True, "transactionalId": txn_id}


def scenario_records():
    topic = PREFIX + "-out"
    create_topic(topic, 2)
    txn_id = PREFIX + "-records"
    p = producer(txn_id)
    p.init_transactions(DEADLINE_S)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, value=("c%d" % i).encode(), partition=i % 2)
    p.commit_transaction(DEADLINE_S)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=("a%d" % i).encode(), partition=i % 2)
    p.flush(DEADLINE_S)
    p.abort_transaction(DEADLINE_S)
    committed = sorted("c%d" % i for i in range(10))
    aborted = sorted("a%d" % i for i in range(5))
    rc = consume_all(topic, 2, "read_committed", 10)
    check(rc == committed, "read_committed saw %s, expected %s" % (rc, committed))
    ru = consume_all(topic, 2, "read_uncommitted", 15)
    check(ru == sorted(committed + aborted), "read_uncommitted saw %s" % ru)
    return {"ok": True, "transactionalId": txn_id, "committed": len(rc), "uncommitted": len(ru)}


def offset_for_time(topic, ts, isolation):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": PREFIX + "-times-" + isolation, "isolation.level": isolation, "enable.auto.commit": False})
    try:
        return c.offsets_for_times([TopicPartition(topic, 0, ts)], DEADLINE_S)[0].offset
    finally:
        c.close()


def scenario_times():
    topic = PREFIX + "-times"
    create_topic(topic, 1)
    plain = Producer({"bootstrap.servers": BOOTSTRAP})
    plain.produce(topic, value=b"a", partition=0, timestamp=1000000)
    check(plain.flush(DEADLINE_S) == 0, "plain produce not delivered")
    txn_id = PREFIX + "-times"
    p = producer(txn_id)
    p.init_transactions(DEADLINE_S)
    p.begin_transaction()
    p.produce(topic, value=b"x", partition=0, timestamp=2000000)
    p.flush(DEADLINE_S)
    # offset 0 'a' at t=1000000, offset 1 'x' at t=2000000 in an open transaction: the LSO is 1
    open_rc = [offset_for_time(topic, t, "read_committed") for t in (500000, 1500000)]
    open_ru = [offset_for_time(topic, t, "read_uncommitted") for t in (500000, 1500000)]
    check(open_rc == [0, -1], "read_committed offsets_for_times during the transaction: %s, expected [0, -1]" % open_rc)
    check(open_ru == [0, 1], "read_uncommitted offsets_for_times during the transaction: %s, expected [0, 1]" % open_ru)
    p.commit_transaction(DEADLINE_S)
    committed_rc = offset_for_time(topic, 1500000, "read_committed")
    check(committed_rc == 1, "read_committed offsets_for_times after the commit: %s, expected 1" % committed_rc)
    return {"ok": True, "openCommitted": open_rc, "openUncommitted": open_ru, "committed": committed_rc}


try:
    out = {"init": scenario_init, "records": scenario_records, "times": scenario_times}[SCENARIO]()
except KafkaException as e:
    fail("%s: %s" % (SCENARIO, e))
print(json.dumps(out))
