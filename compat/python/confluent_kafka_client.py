#!/usr/bin/python3
"""Drives confluent-kafka-python for the compatibility suite: Debian
python3-confluent-kafka (on the system librdkafka) on /usr/bin/python3, and
the PyPI release (its wheel bundles librdkafka) on the interpreter of
.cache/venv (compat/python/requirements.txt).

Usage: confluent_kafka_client.py OP BOOTSTRAP [ARGS]
  version
  create BOOTSTRAP PARTITIONS TOPIC...
  metadata BOOTSTRAP              prints topic names
  produce BOOTSTRAP TOPIC CODEC   values on stdin, one a line
  consume BOOTSTRAP TOPIC N       prints N values read from the beginning
  group BOOTSTRAP TOPIC GROUP N   joins GROUP, prints N values, commits, leaves
  security SPEC                   the security cases of SPEC (security_cases.py),
                                  configured from their librdkafka properties files

Failures print "ERROR: ..." on stderr and exit 1.
"""
import logging
import sys
import time
import traceback

DEADLINE = time.monotonic() + 50


def fail(msg):
    print("ERROR: " + msg, file=sys.stderr)
    sys.exit(1)


class Collect(logging.Handler):
    """Keeps librdkafka's log lines (debug=msg says when a codec is dropped)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def main():
    op = sys.argv[1]
    import confluent_kafka
    if op == "version":
        import platform
        # version() is a (str, int) tuple up to 2.x, a plain str in newer
        # releases; libversion() stays a tuple.
        v, lib = confluent_kafka.version(), confluent_kafka.libversion()
        print("confluent-kafka %s (librdkafka %s; Python %s)" % (
            v if isinstance(v, str) else v[0], lib if isinstance(lib, str) else lib[0], platform.python_version()))
        return
    if op == "security":
        import security_cases
        security_cases.run(sys.argv[2], security_case)
        return
    from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
    from confluent_kafka.admin import AdminClient, NewTopic
    bootstrap = sys.argv[2]
    common = {"bootstrap.servers": bootstrap, "client.id": "rewind-compat-confluent-kafka-python"}

    if op == "create":
        parts = int(sys.argv[3])
        adm = AdminClient(common)
        futs = adm.create_topics([NewTopic(t, num_partitions=parts, replication_factor=1) for t in sys.argv[4:]],
                                 request_timeout=20)
        for t, f in futs.items():
            f.result(timeout=30)
    elif op == "metadata":
        md = AdminClient(common).list_topics(timeout=20)
        for t in sorted(md.topics):
            print(t)
    elif op == "produce":
        topic, codec = sys.argv[3], sys.argv[4]
        logs = Collect()
        logger = logging.getLogger("rdkafka")
        logger.addHandler(logs)
        logger.setLevel(logging.DEBUG)
        conf = dict(common, **{"acks": "all", "linger.ms": 5, "compression.type": codec})
        if codec != "none":
            conf.update({"debug": "msg", "logger": logger})
        p = Producer(conf)
        errs = []

        def report(err, msg):
            if err is not None:
                errs.append(err)
        for line in sys.stdin:
            p.produce(topic, value=line.rstrip("\n").encode(), partition=0, on_delivery=report)
        left = p.flush(max(1, DEADLINE - time.monotonic()))
        if left:
            fail("%d records not delivered before the deadline" % left)
        if errs:
            fail("delivery failed: %s" % errs[0])
        for l in logs.lines:
            i = l.find("Broker does not support compression type")
            if i >= 0:
                fail("records sent uncompressed; librdkafka logged %r" % l[i:].strip())
    elif op == "consume":
        topic, n = sys.argv[3], int(sys.argv[4])
        c = Consumer(dict(common, **{"group.id": "rewind-compat-unused", "enable.auto.commit": False}))
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = read(c, n)
        c.close()
        emit(got, n)
    elif op == "group":
        topic, group, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
        c = Consumer(dict(common, **{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
        c.subscribe([topic])
        got = read(c, n)
        if len(got) == n:
            c.commit(message=got[-1], asynchronous=False)
        c.close()  # leaves the group
        emit(got, n)
    else:
        fail("unknown op " + op)


def security_case(c):
    """Produces c's values with the configuration of its librdkafka
    properties file (what kcat -F reads), and reads them back."""
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING
    import security_cases
    conf = {}
    with open(c["librdkafka_properties"]) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                conf[k.strip()] = v.strip()
    errors = []

    def on_error(e):  # librdkafka reports a refused authentication here
        errors.append(e)
    conf["error_cb"] = on_error
    p = Producer(dict(conf, **{"acks": "all", "message.timeout.ms": 10000}))
    failed = []
    for v in c["values"]:
        p.produce(c["topic"], v.encode(), partition=0, on_delivery=lambda err, m: err and failed.append(err))
    end = security_cases.deadline(15)
    while len(p) > 0 and time.monotonic() < end:
        p.poll(0.2)
        auth = [e for e in errors if e.code() == -169]  # _AUTHENTICATION
        if auth:
            raise KafkaException(auth[0])
    if failed:
        raise KafkaException(failed[0])
    if len(p) > 0:
        raise KafkaException(errors[0] if errors else "produce timed out")
    cons = Consumer(dict(conf, **{"group.id": "sec-confluent-reader", "enable.auto.commit": False}))
    try:
        cons.assign([TopicPartition(c["topic"], 0, OFFSET_BEGINNING)])
        got, end = [], security_cases.deadline()
        while len(got) < len(c["values"]) and time.monotonic() < end:
            m = cons.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            got.append(m.value().decode())
        return got
    finally:
        cons.close()


def read(c, n):
    got = []
    while len(got) < n and time.monotonic() < DEADLINE:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF, not an error
                continue
            fail("consume: %s" % m.error())
        got.append(m)
    return got


def emit(got, n):
    for m in got:
        print(m.value().decode())
    if len(got) < n:
        fail("read %d of %d records before the deadline" % (len(got), n))


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:
        traceback.print_exc(file=sys.stderr)
        fail("%s: %s" % (type(e).__name__, e))
