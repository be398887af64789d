#!/usr/bin/python3
"""confluent-kafka-python 1.7.0 (librdkafka 2.0.2): commit or read a committed offset for several groups.

Usage: committed_offsets.py BOOTSTRAP commit|read TOPIC PARTITION OFFSET GROUP...
'commit' commits OFFSET for TOPIC/PARTITION in every GROUP (a simple commit: no subscribe, no group
membership), then reads it back; 'read' only reads. Prints one JSON line {group: committed offset} (-1001 when
the group has none) and exits 0; on a client error prints "FAIL: <what>" to stderr and exits 1.
Must run with /usr/bin/python3 (the Debian build that has the module).
"""
import json
import sys

from confluent_kafka import Consumer, KafkaException, TopicPartition
from e2e_common import fail

BOOTSTRAP, MODE, TOPIC, PARTITION, OFFSET = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
GROUPS = sys.argv[6:]
DEADLINE_S = 15


out = {}
for group in GROUPS:
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False,
                  "socket.timeout.ms": 10000})
    try:
        if MODE == "commit":
            c.commit(offsets=[TopicPartition(TOPIC, PARTITION, OFFSET)], asynchronous=False)
        got = c.committed([TopicPartition(TOPIC, PARTITION)], timeout=DEADLINE_S)
    except KafkaException as e:
        fail("%s of group %s: %s" % (MODE, group, e))
    finally:
        c.close()
    if got[0].error is not None:
        fail("committed() of group %s: %s" % (group, got[0].error))
    out[group] = got[0].offset
print(json.dumps(out))
