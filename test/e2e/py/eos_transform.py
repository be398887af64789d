#!/usr/bin/python3
"""Consume-transform-produce with exactly-once semantics, confluent-kafka-python 1.7.0 (librdkafka 2.0.2:
InitProducerId, AddPartitionsToTxn v0, AddOffsetsToTxn v0, TxnOffsetCommit v3, EndTxn v1, Fetch read_committed).

Usage: eos_transform.py BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP TRANSACTIONAL_ID TOTAL
Reads IN_TOPIC in consumer group GROUP (read_committed, no auto commit) and, for each input record, writes
"out-<value>" with the same key to OUT_TOPIC. Each poll's records and the consumer's positions are committed in
one transaction (send_offsets_to_transaction). The test SIGKILLs this process at random moments and starts it
again with the same transactional id: init_transactions fences the dead instance and aborts its open
transaction, and the group's committed offsets say where to resume.

Prints "PRODUCED <n>" once a transaction's records are on the broker (then pauses, still inside it), and
"COMMITTED <records in this transaction> <sum of positions>" after every commit (flushed), and a final
JSON line once the group's committed offsets cover TOTAL input records. "FAIL: ..." on stderr and exit 1 on an error.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer

BOOTSTRAP, IN_TOPIC, OUT_TOPIC, GROUP, TXN_ID, TOTAL = sys.argv[1:7]
TOTAL = int(TOTAL)
DEADLINE_S = 120
BATCH = 25
# A pause inside each transaction, after its records reached the broker (the test kills the process there).
PAUSE_S = 0.05


def fail(msg):
    sys.stderr.write("FAIL: " + msg + "\n")
    sys.stderr.flush()
    sys.exit(1)


consumer = Consumer({
    "bootstrap.servers": BOOTSTRAP,
    "group.id": GROUP,
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
    "session.timeout.ms": 6000,
})
producer = Producer({
    "bootstrap.servers": BOOTSTRAP,
    "transactional.id": TXN_ID,
    "transaction.timeout.ms": 10000,
})

try:
    producer.init_transactions(30)
except KafkaException as e:
    fail("init_transactions: %s" % e)
consumer.subscribe([IN_TOPIC])

deadline = time.time() + DEADLINE_S
transactions = 0
records = 0
while time.time() < deadline:
    msgs = consumer.consume(num_messages=BATCH, timeout=0.5)
    for m in msgs:
        if m.error() is not None:
            fail("consume: %s" % m.error())
    assignment = consumer.assignment()
    if msgs:
        try:
            producer.begin_transaction()
            for m in msgs:
                producer.produce(OUT_TOPIC, key=m.key(), value=b"out-" + m.value())
            # The records are on the broker now, inside the open transaction: a kill from here on must abort them.
            producer.flush(30)
            print("PRODUCED %d" % len(msgs), flush=True)
            time.sleep(PAUSE_S)
            producer.send_offsets_to_transaction(consumer.position(assignment), consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
        except KafkaException as e:
            fail("transaction: %s" % e)
        transactions += 1
        records += len(msgs)
        positions = consumer.position(assignment)
        print("COMMITTED %d %d" % (len(msgs), sum(max(tp.offset, 0) for tp in positions)), flush=True)
    if assignment and not msgs:
        # Idle: done once the group's committed offsets (ours and earlier runs') cover every input record. Only
        # this member is in the group once the dead one's session expired: it holds every partition.
        committed = consumer.committed(assignment, timeout=10)
        if sum(max(tp.offset, 0) for tp in committed) >= TOTAL:
            break
else:
    fail("deadline: %d records in %d transactions" % (records, transactions))

consumer.close()
print(json.dumps({"ok": True, "transactions": transactions, "records": records}), flush=True)
