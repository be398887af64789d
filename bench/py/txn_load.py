#!/usr/bin/python3
"""Load generator of bench/txn.ts: one librdkafka producer (confluent-kafka-python 1.7.0, librdkafka 2.0.2) in a
closed loop at its maximum rate against a live Tern broker, in one of three modes, then a count of what the topic
holds. Must run with /usr/bin/python3 (the Debian python that has python3-confluent-kafka).

Usage: txn_load.py CONFIG_JSON
  CONFIG_JSON: {"bootstrap", "topic", "partitions", "mode": "plain"|"idempotent"|"txn", "txnRecords",
                "recordBytes", "warmupS", "durationS", "maxInFlight", "lingerMs", "queueKiB",
                "transactionalId", "deadlineS"}

Modes (acks=all; record i of the run goes to partition i % partitions, no key):
  plain       enable.idempotence=false
  idempotent  enable.idempotence=true
  txn         transactional.id set: begin_transaction, txnRecords x produce, flush, commit_transaction, repeated

The measured window: after warmupS seconds of the same load, durationS seconds. plain/idempotent: messages whose
delivery report (acknowledgement) is served inside the window. txn: the window starts and ends at commit
boundaries (the first commit returning after the warm-up, the first returning after durationS more), and counts
the records of the transactions committed inside it. Per transaction in the window the script records: the whole
transaction (begin_transaction to commit_transaction's return), the time until its first record is acknowledged
(AddPartitionsToTxn, with librdkafka's 20 ms retries while the broker still completes the previous transaction,
then the first Produce round trip: the first record's latency()), and commit_transaction() alone, called after
flush() so nothing is left to send (EndTxn's round trip: the coordinator's PrepareCommit append; the markers and
CompleteCommit follow on the broker). Every mode records each record's produce-to-acknowledgement time
(librdkafka's latency(), taken when the answer is read, not when the report is served) for the window's records.
In txn mode librdkafka's `debug: eos,protocol,msg` lines give the batches a Produce answer failed (batchErrors
{error: count}) and the round trip of every answer in the window per request
type (AddPartitionsToTxn split by outcome: CONCURRENT_TRANSACTIONS or added) as rttUs {name: [us...]}.

Output on stdout, one line each, flushed at once (bench/txn.ts samples the broker's CPU on the first two):
  WINDOW_START
  WINDOW_END
  RESULT <json>   (the `result` dict at the end; latencies in integer microseconds: ackLatencyUs as
                   {value: count}, commitUs / firstAckUs / txnUs as raw lists; bench/txn.ts feeds them into
                   hdr-histogram-js, which computes every percentile)
After the window: txn mode ends with one aborted transaction (min(txnRecords, 100) records, flushed, then
abort_transaction), then every mode counts the topic with a read_committed consumer (must equal the committed or
acknowledged count) and sums the partitions' high watermarks (must equal every record written plus one marker per
transaction and partition touched; waited for, since markers are written after EndTxn is answered).
Exit status 0 even when a check fails (the RESULT says so); 1 with "FAIL: ..." on stderr when the load itself
could not run (a producer error, a deadline).
"""
import json
import os
import re
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

CFG = json.loads(sys.argv[1])
BOOTSTRAP = CFG["bootstrap"]
TOPIC = CFG["topic"]
PARTITIONS = int(CFG["partitions"])
MODE = CFG["mode"]
TXN_RECORDS = int(CFG.get("txnRecords") or 0)
RECORD_BYTES = int(CFG["recordBytes"])
WARMUP_S = float(CFG["warmupS"])
DURATION_S = float(CFG["durationS"])
DEADLINE_S = float(CFG.get("deadlineS") or 120)
# Seconds one librdkafka call (init, flush, commit, abort) may take before the run is declared failed.
CALL_TIMEOUT_S = 60
# Records between two poll(0) calls in the produce loop (serves delivery reports, keeps the report queue short).
POLL_EVERY = 500
ABORTED_RECORDS_MAX = 100
CONSUME_BATCH = 10000

mono = time.monotonic
started = mono()


def fail(msg):
    sys.stderr.write("FAIL: " + msg + "\n")
    sys.stderr.flush()
    sys.exit(1)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def cpu_seconds():
    t = os.times()
    return t[0] + t[1]


def check_deadline():
    if mono() - started > DEADLINE_S:
        fail("deadline of %.0f s passed" % DEADLINE_S)


if MODE not in ("plain", "idempotent", "txn"):
    fail("unknown mode %r" % MODE)
if MODE == "txn" and TXN_RECORDS < 1:
    fail("txn mode needs txnRecords >= 1")

# Half random, half constant (as bench/payload.ts's template with payloadRandomRatio 0.5): compressible data
# would flatter nothing here (no compression is configured), but keep the bytes realistic.
VALUE = os.urandom(RECORD_BYTES // 2) + b"x" * (RECORD_BYTES - RECORD_BYTES // 2)

state = {
    "in_window": False,
    "acked": 0,
    "acked_window": 0,
    "delivery_errors": 0,
    "first_delivery_error": None,
    "client_errors": [],
    "first_partition": None,
    "first_ack_s": None,
    "stats": None,
    "stats_at": 0.0,
}
ack_latency_us = {}


def on_delivery(err, msg):
    if err is not None:
        state["delivery_errors"] += 1
        if state["first_delivery_error"] is None:
            state["first_delivery_error"] = str(err)
        return
    state["acked"] += 1
    # The transaction's first record (produced right after begin_transaction) is the first acknowledged on its
    # partition: its latency() is the time from the transaction's start to its first acknowledgement.
    if state["first_partition"] is not None and msg.partition() == state["first_partition"]:
        state["first_partition"] = None
        state["first_ack_s"] = msg.latency()
    if state["in_window"]:
        state["acked_window"] += 1
        lat = msg.latency()
        if lat is not None:
            v = int(lat * 1e6)
            ack_latency_us[v] = ack_latency_us.get(v, 0) + 1


def on_error(err):
    if len(state["client_errors"]) < 20:
        state["client_errors"].append(("fatal: " if err.fatal() else "") + str(err))


RECV_LINE = re.compile(r"Received (\w+)Response \(v\d+, \d+ bytes, CorrId \d+, rtt ([0-9.]+)ms\)")


class EosLog:
    """librdkafka's `debug: eos,protocol,msg` lines (txn mode only). Counts lines per facility, Produce answers that
    failed a batch (by error; librdkafka retries those after retry.backoff.ms, 100 ms), and AddPartitionsToTxn
    answers of CONCURRENT_TRANSACTIONS (the previous transaction still completing on the broker; librdkafka
    retries after 20 ms), and keeps the round-trip time librdkafka measured for each answer served inside the
    window, per request type (microseconds). An AddPartitionsToTxn answer is filed under its outcome, told by the
    ADDPARTS line that follows it (librdkafka keeps one such request outstanding)."""

    def __init__(self):
        self.by_facility = {}
        self.concurrent = 0
        self.rtt_us = {}
        self.pending_add = None
        self.batch_errors = {}

    def rtt(self, name, us):
        if state["in_window"]:
            self.rtt_us.setdefault(name, []).append(us)

    def log(self, level, fmt, *args):
        fac = str(args[0]) if args else "?"
        msg = str(args[-1]) if args else ""
        self.by_facility[fac] = self.by_facility.get(fac, 0) + 1
        if fac == "RECV":
            m = RECV_LINE.search(msg)
            if m is None:
                return
            us = int(round(float(m.group(2)) * 1000))
            if m.group(1) == "AddPartitionsToTxn":
                self.pending_add = us
            else:
                self.rtt(m.group(1), us)
        elif fac == "MSGSET" and "encountered error" in msg:
            # A Produce answered with an error for this batch: librdkafka retries it after retry.backoff.ms (100).
            err = msg.split("encountered error: ", 1)[-1].split(" (", 1)[0]
            self.batch_errors[err] = self.batch_errors.get(err, 0) + 1
        elif fac == "ADDPARTS":
            if "concurrent operation" in msg:
                self.concurrent += 1
                if self.pending_add is not None:
                    self.rtt("AddPartitionsToTxn CONCURRENT_TRANSACTIONS", self.pending_add)
                    self.pending_add = None
            elif "registered with transaction" in msg and self.pending_add is not None:
                self.rtt("AddPartitionsToTxn", self.pending_add)
                self.pending_add = None


eos_log = EosLog()


def on_stats(text):
    state["stats"] = text
    state["stats_at"] = mono()


conf = {
    "bootstrap.servers": BOOTSTRAP,
    "acks": "all",
    "enable.idempotence": MODE != "plain",
    "linger.ms": CFG["lingerMs"],
    "max.in.flight.requests.per.connection": CFG["maxInFlight"],
    "queue.buffering.max.kbytes": CFG["queueKiB"],
    "message.timeout.ms": 60000,
    "statistics.interval.ms": 500,
    "on_delivery": on_delivery,
    "error_cb": on_error,
    "stats_cb": on_stats,
}
if MODE == "txn":
    conf["transactional.id"] = CFG["transactionalId"]
    conf["transaction.timeout.ms"] = 60000
    conf["debug"] = "eos,protocol,msg"
    conf["logger"] = eos_log

try:
    p = Producer(conf)
except KafkaException as e:
    fail("producer: %s" % e)
sent = [0]


def produce_one():
    n = sent[0]
    while True:
        try:
            p.produce(TOPIC, VALUE, partition=n % PARTITIONS)
            break
        except BufferError:
            p.poll(0.001)
            check_deadline()
    sent[0] = n + 1
    if n % POLL_EVERY == 0:
        p.poll(0)
    return n % PARTITIONS


window = {}


def open_window():
    state["in_window"] = True
    window["t0"] = mono()
    window["cpu0"] = cpu_seconds()
    say("WINDOW_START")


def close_window():
    window["t1"] = mono()
    window["cpu1"] = cpu_seconds()
    state["in_window"] = False
    say("WINDOW_END")


commit_us, first_ack_us, txn_us = [], [], []
txn_counts = {"committed_records": 0, "committed_txns": 0, "window_records": 0, "window_txns": 0, "aborted_records": 0, "markers": 0}


def run_stream():
    t_start = mono()
    while mono() - t_start < WARMUP_S:
        for _ in range(100):
            produce_one()
    open_window()
    while mono() - window["t0"] < DURATION_S:
        for _ in range(100):
            produce_one()
    p.poll(0)
    close_window()
    if p.flush(CALL_TIMEOUT_S) != 0:
        fail("flush left messages undelivered")


def one_transaction(records, commit):
    tb = mono()
    state["first_partition"] = sent[0] % PARTITIONS
    state["first_ack_s"] = None
    p.begin_transaction()
    touched = set()
    for _ in range(records):
        touched.add(produce_one())
    if p.flush(CALL_TIMEOUT_S) != 0:
        fail("flush left messages undelivered")
    tc = mono()
    if commit:
        p.commit_transaction(CALL_TIMEOUT_S)
    else:
        p.abort_transaction(CALL_TIMEOUT_S)
    te = mono()
    txn_counts["markers"] += len(touched)
    return tb, state["first_ack_s"], tc, te


def run_txn():
    p.init_transactions(CALL_TIMEOUT_S)
    t_start = mono()
    while mono() - t_start < WARMUP_S:
        one_transaction(TXN_RECORDS, True)
        txn_counts["committed_records"] += TXN_RECORDS
        txn_counts["committed_txns"] += 1
        check_deadline()
    open_window()
    while mono() - window["t0"] < DURATION_S:
        tb, ta, tc, te = one_transaction(TXN_RECORDS, True)
        txn_counts["committed_records"] += TXN_RECORDS
        txn_counts["committed_txns"] += 1
        txn_counts["window_records"] += TXN_RECORDS
        txn_counts["window_txns"] += 1
        commit_us.append(int((te - tc) * 1e6))
        if ta is not None:
            first_ack_us.append(int(ta * 1e6))
        txn_us.append(int((te - tb) * 1e6))
        check_deadline()
    close_window()
    aborted = min(TXN_RECORDS, ABORTED_RECORDS_MAX)
    one_transaction(aborted, False)
    txn_counts["aborted_records"] = aborted


def count_read_committed():
    """Records a read_committed consumer reads from the start of every partition to its end (partition EOF)."""
    c = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": "tern-bench-txn-count",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
    })
    c.assign([TopicPartition(TOPIC, q, 0) for q in range(PARTITIONS)])
    count, eof, errors = 0, set(), []
    t0 = mono()
    while len(eof) < PARTITIONS:
        check_deadline()
        for m in c.consume(CONSUME_BATCH, 0.5):
            e = m.error()
            if e is None:
                count += 1
            elif e.code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
            elif len(errors) < 10:
                errors.append(str(e))
    # Anything past EOF would be a record the broker had not exposed yet: read on briefly to catch it.
    quiet_until = mono() + 0.5
    while mono() < quiet_until:
        for m in c.consume(CONSUME_BATCH, 0.1):
            if m.error() is None:
                count += 1
    seconds = mono() - t0
    c.close()
    return count, errors, seconds


def high_watermark_sum(expected):
    """Sum of the partitions' high watermarks, re-read (markers land after EndTxn is answered) until it equals
    `expected` or 10 s pass."""
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "tern-bench-txn-hw", "enable.auto.commit": False})
    total = None
    until = mono() + 10
    while True:
        total = sum(c.get_watermark_offsets(TopicPartition(TOPIC, q), timeout=10, cached=False)[1] for q in range(PARTITIONS))
        if total == expected or mono() > until:
            break
        time.sleep(0.1)
    c.close()
    return total


try:
    if MODE == "txn":
        run_txn()
    else:
        run_stream()
    # One more statistics report after the load, so its request counters cover the whole run.
    last_load = mono()
    while state["stats_at"] <= last_load and mono() - last_load < 3:
        p.poll(0.1)
except KafkaException as e:
    fail("%s: %s" % (MODE, e))

if MODE == "txn":
    expected_committed = txn_counts["committed_records"]
    expected_hw = txn_counts["committed_records"] + txn_counts["aborted_records"] + txn_counts["markers"]
else:
    expected_committed = state["acked"]
    expected_hw = sent[0]
read_committed, consume_errors, count_s = count_read_committed()
hw_sum = high_watermark_sum(expected_hw)

requests = {}
retries = 0
if state["stats"] is not None:
    for b in json.loads(state["stats"]).get("brokers", {}).values():
        retries += b.get("txretries") or 0
        for name, n in (b.get("req") or {}).items():
            if n:
                requests[name] = requests.get(name, 0) + n

wall = window["t1"] - window["t0"]
result = {
    "mode": MODE,
    "txnRecords": TXN_RECORDS if MODE == "txn" else None,
    "windowS": wall,
    "windowMessages": txn_counts["window_records"] if MODE == "txn" else state["acked_window"],
    "windowTxns": txn_counts["window_txns"],
    "clientCpuS": window["cpu1"] - window["cpu0"],
    "sent": sent[0],
    "acked": state["acked"],
    "deliveryErrors": state["delivery_errors"],
    "firstDeliveryError": state["first_delivery_error"],
    "clientErrors": state["client_errors"],
    "committedRecords": txn_counts["committed_records"],
    "committedTxns": txn_counts["committed_txns"],
    "abortedRecords": txn_counts["aborted_records"],
    "markers": txn_counts["markers"],
    "expectedReadCommitted": expected_committed,
    "readCommitted": read_committed,
    "consumeErrors": consume_errors,
    "countS": count_s,
    "expectedHighWatermarkSum": expected_hw,
    "highWatermarkSum": hw_sum,
    "requests": requests,
    "producerRetries": retries,
    "batchErrors": eos_log.batch_errors,
    "addPartitionsConcurrent": eos_log.concurrent,
    "eosLogLines": eos_log.by_facility,
    "rttUs": eos_log.rtt_us,
    "ackLatencyUs": ack_latency_us,
    "commitUs": commit_us,
    "firstAckUs": first_ack_us,
    "txnUs": txn_us,
}
say("RESULT " + json.dumps(result))
