#!/usr/bin/python3
"""An idempotent librdkafka producer (confluent-kafka-python 1.7.0, librdkafka 2.0.2) writing COUNT numbered
messages (value = the number as text, key = number % 16) to TOPIC, while the test cuts its connections.

Usage: idempotent_producer.py BOOTSTRAP TOPIC COUNT
Prints one JSON summary line and exits 0 when every message was acknowledged; on a delivery error or a fatal
producer error prints "FAIL: <what>" to stderr and exits 1. Must run with /usr/bin/python3.
"""
import json
import sys
import time

from confluent_kafka import KafkaError, Producer
from e2e_common import fail

BOOTSTRAP, TOPIC, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
DEADLINE_S = 150
# Paced so production spans several seconds: the connection cuts land while requests are in flight.
PACE_EVERY, PACE_S = 20, 0.006

errors = []
delivered = [0]


def on_delivery(err, msg):
    if err is not None:
        errors.append(str(err))
    else:
        delivered[0] += 1


def on_error(err):
    # Connection cuts are expected (transport errors); a fatal error ends idempotence guarantees.
    if err.fatal():
        errors.append("fatal: " + str(err))


p = Producer({
    "bootstrap.servers": BOOTSTRAP,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "batch.num.messages": 200,
    "message.timeout.ms": 120000,
    "reconnect.backoff.ms": 10,
    "reconnect.backoff.max.ms": 200,
    "error_cb": on_error,
})

start = time.time()
for i in range(COUNT):
    while True:
        try:
            p.produce(TOPIC, key=str(i % 16), value=str(i), on_delivery=on_delivery)
            break
        except BufferError:
            p.poll(0.05)
        if time.time() - start > DEADLINE_S:
            fail("local queue stayed full")
    p.poll(0)
    if i % PACE_EVERY == 0:
        time.sleep(PACE_S)
    if errors:
        fail("delivery error: " + errors[0])

left = p.flush(max(1, DEADLINE_S - (time.time() - start)))
if errors:
    fail("delivery error: " + errors[0])
if left != 0 or delivered[0] != COUNT:
    fail("%d messages still queued, %d of %d delivered" % (left, delivered[0], COUNT))
print(json.dumps({"ok": True, "delivered": delivered[0], "seconds": round(time.time() - start, 2)}))
