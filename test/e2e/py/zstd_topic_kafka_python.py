#!/usr/bin/python3
"""kafka-python 2.0.2 against a topic whose compression.type is zstd. kafka-python fetches at Fetch v4 whatever the
broker offers (it cannot negotiate the v10 that KIP-110 requires of zstd readers), so Kafka answers it
UNSUPPORTED_COMPRESSION_TYPE (76) for such a topic, whatever the stored batches hold; a topic with the default
compression.type (producer) is served as usual.

Usage: zstd_topic_kafka_python.py BOOTSTRAP TOPIC_PREFIX
Prints one JSON line on success; "FAIL: ..." on stderr and exit 1 on the first failed check.
Must run with /usr/bin/python3 (the Debian build that has the module).
"""
import json
import sys
import time

from kafka import KafkaAdminClient, KafkaClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.protocol.fetch import FetchRequest
from e2e_common import check, fail

BOOTSTRAP, PREFIX = sys.argv[1], sys.argv[2]
ZSTD = PREFIX + "-zstd"
PLAIN = PREFIX + "-plain"
N = 3
DEADLINE_S = 20
UNSUPPORTED_COMPRESSION_TYPE = 76


admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="tern-e2e-zstd-admin", request_timeout_ms=15000)
resp = admin.create_topics([
    NewTopic(name=ZSTD, num_partitions=1, replication_factor=1, topic_configs={"compression.type": "zstd"}),
    NewTopic(name=PLAIN, num_partitions=1, replication_factor=1),
], timeout_ms=15000)
errs = [(t, code) for (t, code, *_rest) in resp.topic_errors if code != 0]
check(not errs, "create_topics topic_errors: %s" % errs)
admin.close()

producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", retries=0, compression_type="gzip",
                         request_timeout_ms=15000, max_block_ms=15000)
for topic in (ZSTD, PLAIN):
    for i in range(N):
        producer.send(topic, value=("%s-%d" % (topic, i)).encode(), partition=0).get(timeout=DEADLINE_S)
producer.close()

# The Fetch v4 kafka-python's consumer sends, through its own client and codecs, to read the error code.
client = KafkaClient(bootstrap_servers=BOOTSTRAP, client_id="tern-e2e-zstd-fetch")
deadline = time.time() + DEADLINE_S
node = None
while time.time() < deadline:
    node = client.least_loaded_node()
    if node is not None and client.ready(node):
        break
    client.poll(timeout_ms=100)
check(node is not None and client.ready(node), "no connection to the broker")
req = FetchRequest[4](-1, 100, 1, 1048576, 0, [(ZSTD, [(0, 0, 1048576)]), (PLAIN, [(0, 0, 1048576)])])
future = client.send(node, req)
client.poll(future=future, timeout_ms=DEADLINE_S * 1000)
check(future.succeeded(), "Fetch v4 failed: %r" % (future.exception,))
answers = {}
for topic, partitions in future.value.topics:
    for partition, error_code, highwater, _lso, _aborted, records in partitions:
        answers[topic] = (error_code, highwater, len(records))
client.close()
check(answers.get(ZSTD, (None,))[0] == UNSUPPORTED_COMPRESSION_TYPE,
      "Fetch v4 of the zstd topic answered %s, expected error %d" % (answers.get(ZSTD), UNSUPPORTED_COMPRESSION_TYPE))
check(answers[ZSTD][2] == 0, "Fetch v4 of the zstd topic returned records: %s" % (answers[ZSTD],))
check(answers.get(PLAIN, (None,))[0] == 0 and answers[PLAIN][1] == N and answers[PLAIN][2] > 0,
      "Fetch v4 of the producer-compression topic answered %s" % (answers.get(PLAIN),))


def consume(topic):
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None, enable_auto_commit=False, consumer_timeout_ms=3000)
    c.assign([TopicPartition(topic, 0)])
    c.seek(TopicPartition(topic, 0), 0)
    values = [m.value.decode() for m in c]
    c.close()
    return values


# What a kafka-python consumer sees: the producer-compression topic's records; from the zstd topic nothing (the
# client does not know error 76 and logs it as unknown), and it does not crash.
plain = consume(PLAIN)
check(plain == ["%s-%d" % (PLAIN, i) for i in range(N)], "KafkaConsumer read %s from %s" % (plain, PLAIN))
zstd = consume(ZSTD)
check(zstd == [], "KafkaConsumer read %s from the zstd topic at Fetch v4" % (zstd,))
print(json.dumps({"ok": True, "zstdError": answers[ZSTD][0], "plainConsumed": len(plain), "zstdConsumed": len(zstd)}))
