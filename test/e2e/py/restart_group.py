#!/usr/bin/python3
"""A producer and a consumer-group member that keep running while the broker restarts under them.

Usage: restart_group.py BOOTSTRAP CLIENT TOPIC RUN_S
CLIENT: confluent (confluent-kafka-python 1.7.0, librdkafka 2.0.2) or kafka-python (2.0.2).
Creates TOPIC (3 partitions), then produces one numbered record every 10 ms (acks=all, retries) while one group
member consumes with auto-commit every 200 ms. Prints "READY" once it has consumed 100 records (the test then
stops the broker with SIGTERM and starts it again on the same port and data), keeps producing for RUN_S more
seconds, then waits up to 30 s for every acknowledged record to be consumed. Prints one JSON line
{acked, consumed, missing, duplicates, errors}; exits 1 with "FAIL: ..." on a setup error.
Must run with /usr/bin/python3 (the Debian build that has the modules).
"""
import json
import sys
import time
from e2e_common import fail

BOOTSTRAP, CLIENT, TOPIC, RUN_S = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
GROUP = TOPIC + "-g"
READY_AFTER = 100
DRAIN_S = 30


acked = set()
errors = []
seen = {}


def on_record(value):
    seen[value] = seen.get(value, 0) + 1


if CLIENT == "confluent":
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})  # kept: a destroyed handle fails its futures
    try:
        admin.create_topics([NewTopic(TOPIC, 3, 1)])[TOPIC].result(15)
    except Exception as e:  # noqa: BLE001
        fail("create_topics: %r" % e)
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 5, "message.timeout.ms": 60000})
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": GROUP, "auto.offset.reset": "earliest",
                         "enable.auto.commit": True, "auto.commit.interval.ms": 200, "session.timeout.ms": 10000})
    consumer.subscribe([TOPIC])

    def delivered(err, msg):
        if err is None:
            acked.add(msg.value().decode())
        else:
            errors.append("delivery: %s" % err)

    def send(value):
        producer.produce(TOPIC, value=value.encode(), on_delivery=delivered)
        producer.poll(0)

    def poll(timeout_s):
        m = consumer.poll(timeout_s)
        if m is None:
            return
        if m.error():
            errors.append("consumer: %s" % m.error())
        else:
            on_record(m.value().decode())

    def finish_producing():
        left = producer.flush(60)
        if left:
            errors.append("flush left %d" % left)

elif CLIENT == "kafka-python":
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic

    try:
        admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=15000)
        admin.create_topics([NewTopic(TOPIC, 3, 1)])
        admin.close()
    except Exception as e:  # noqa: BLE001
        fail("create_topics: %r" % e)
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5, retries=50, retry_backoff_ms=200,
                             request_timeout_ms=10000, max_block_ms=30000)
    consumer = KafkaConsumer(TOPIC, bootstrap_servers=BOOTSTRAP, group_id=GROUP, auto_offset_reset="earliest",
                             enable_auto_commit=True, auto_commit_interval_ms=200, session_timeout_ms=10000)

    def send(value):
        fut = producer.send(TOPIC, value=value.encode())
        fut.add_callback(lambda _md, v=value: acked.add(v))
        fut.add_errback(lambda e: errors.append("delivery: %r" % e))

    def poll(timeout_s):
        for records in consumer.poll(timeout_ms=int(timeout_s * 1000)).values():
            for r in records:
                on_record(r.value.decode())

    def finish_producing():
        producer.flush(60)

else:
    fail("unknown client " + CLIENT)

n = 0
ready_at = None
last_send = 0.0
while True:
    now = time.time()
    if ready_at is None and len(seen) >= READY_AFTER:
        ready_at = now
        print("READY", flush=True)
    if ready_at is not None and now - ready_at > RUN_S:
        break
    if now - last_send >= 0.01:
        send(str(n))
        n += 1
        last_send = now
    poll(0.005)
    if ready_at is None and n > 20000:
        fail("consumed only %d records of %d produced before the restart" % (len(seen), n))

finish_producing()
end = time.time() + DRAIN_S
while time.time() < end and not acked.issubset(seen):
    poll(0.2)
consumer.close()
print(json.dumps({
    "produced": n,
    "acked": len(acked),
    "consumed": len(seen),
    "missing": len(acked - set(seen)),
    "duplicates": sum(c - 1 for c in seen.values()),
    "errors": sorted(set(errors))[:10],
}), flush=True)
