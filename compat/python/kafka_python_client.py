#!/usr/bin/python3
"""Drives kafka-python for the compatibility suite: Debian python3-kafka on
/usr/bin/python3, and the PyPI release on the interpreter of .cache/venv
(compat/python/requirements.txt).

Usage: kafka_python_client.py OP BOOTSTRAP [ARGS]
  version
  create BOOTSTRAP PARTITIONS TOPIC...
  metadata BOOTSTRAP              prints topic names
  produce BOOTSTRAP TOPIC CODEC   values on stdin, one a line
  consume BOOTSTRAP TOPIC N       prints N values read from the beginning
  group BOOTSTRAP TOPIC GROUP N   joins GROUP, prints N values, commits, leaves
  security SPEC                   the security cases of SPEC (security_cases.py)

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


def main():
    op = sys.argv[1]
    if op == "version":
        import kafka
        import platform
        mods = []
        for m in ("snappy", "lz4", "zstandard"):
            try:
                mod = __import__(m)
                v = getattr(mod, "__version__", "")
                mods.append(("%s %s" % (m, v)).strip())
            except ImportError:
                mods.append(m + " missing")
        print("kafka-python %s (Python %s; %s)" % (kafka.__version__, platform.python_version(), ", ".join(mods)))
        return
    if op == "security":
        import security_cases
        security_cases.run(sys.argv[2], security_case)
        return
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka.structs import OffsetAndMetadata
    bootstrap = sys.argv[2]
    common = dict(bootstrap_servers=[bootstrap], client_id="rewind-compat-kafka-python")

    if op == "create":
        parts = int(sys.argv[3])
        adm = KafkaAdminClient(**common)
        resp = adm.create_topics([NewTopic(t, parts, 1) for t in sys.argv[4:]], timeout_ms=20000)
        errs = [e for e in getattr(resp, "topic_errors", []) if e[1] != 0]
        adm.close()
        if errs:
            fail("CreateTopics: %r" % (errs,))
    elif op == "metadata":
        c = KafkaConsumer(**common)
        for t in sorted(c.topics()):
            print(t)
        c.close()
    elif op == "produce":
        topic, codec = sys.argv[3], sys.argv[4]
        p = KafkaProducer(acks="all", linger_ms=5, compression_type=None if codec == "none" else codec, **common)
        futs = [p.send(topic, value=line.rstrip("\n").encode(), partition=0) for line in sys.stdin]
        for i, f in enumerate(futs):
            f.get(timeout=max(1, DEADLINE - time.monotonic()))
        p.flush()
        p.close()
    elif op == "consume":
        topic, n = sys.argv[3], int(sys.argv[4])
        c = KafkaConsumer(enable_auto_commit=False, **common)
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        got = read(c, n)
        c.close()
        emit(got, n)
    elif op == "group":
        topic, group, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
        c = KafkaConsumer(topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False, **common)
        got = read(c, n)
        if len(got) == n:
            last = got[-1]
            c.commit({TopicPartition(last.topic, last.partition): OffsetAndMetadata(last.offset + 1, None)})
        c.close(autocommit=False)  # sends LeaveGroup
        emit(got, n)
    else:
        fail("unknown op " + op)


class Logged(logging.Handler):
    """kafka-python logs why a connection or a topic was refused and raises
    only NoBrokersAvailable or a metadata timeout: keep its warnings."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        msg = record.getMessage()
        if msg not in self.lines:
            self.lines.append(msg)


def security_case(c):
    """Produces c's values over TLS or SASL_SSL as kafka-python's
    documentation configures it, and reads them back; a failure carries
    what kafka-python logged about it."""
    h = Logged()
    log = logging.getLogger("kafka")
    log.addHandler(h)
    try:
        return security_attempt(c)
    except Exception as e:
        why = [l for l in h.lines if "uthenticat" in l or "uthoriz" in l or "Error receiving reply" in l]
        if why:
            raise type(e)("%s (kafka-python logged: %s)" % (e, " / ".join(why[:2])))
        raise
    finally:
        log.removeHandler(h)


def unsigned_token_provider(sub):
    """A kafka-python token provider of unsigned JWTs (alg none) for sub,
    as --sasl-oauthbearer-unsecured takes them; its base class lives in
    kafka.oauth.abstract (2.0), kafka.sasl.oauth (2.1, 2.2) or
    kafka.net.sasl.oauth (3.0)."""
    import base64
    import importlib
    import json
    for mod in ("kafka.net.sasl.oauth", "kafka.sasl.oauth", "kafka.oauth.abstract"):
        try:
            AbstractTokenProvider = importlib.import_module(mod).AbstractTokenProvider
            break
        except (ImportError, AttributeError):
            continue

    def enc(o):
        return base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()

    class Unsigned(AbstractTokenProvider):
        def token(self):
            now = int(time.time())
            return enc({"alg": "none"}) + "." + enc({"sub": sub, "iat": now, "exp": now + 3600}) + "."

    return Unsigned()


def security_attempt(c):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    import security_cases
    kw = dict(bootstrap_servers=[c["bootstrap"]], client_id="rewind-compat-kafka-python",
              security_protocol=c["protocol"], ssl_cafile=c["ca"], request_timeout_ms=10000)
    if c.get("cert"):
        kw.update(ssl_certfile=c["cert"], ssl_keyfile=c["key"])
    if c.get("mechanism") == "OAUTHBEARER":
        kw.update(sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider=unsigned_token_provider(c["username"]))
    elif c.get("mechanism"):
        kw.update(sasl_mechanism=c["mechanism"], sasl_plain_username=c["username"], sasl_plain_password=c["password"])
    p = KafkaProducer(acks="all", max_block_ms=10000, retries=1, **kw)
    try:
        futs = [p.send(c["topic"], value=v.encode(), partition=0) for v in c["values"]]
        for f in futs:
            f.get(timeout=15)
    finally:
        p.close(timeout=5)
    cons = KafkaConsumer(enable_auto_commit=False, **kw)
    try:
        tp = TopicPartition(c["topic"], 0)
        cons.assign([tp])
        cons.seek_to_beginning(tp)
        got, end = [], security_cases.deadline()
        while len(got) < len(c["values"]) and time.monotonic() < end:
            for recs in cons.poll(timeout_ms=500).values():
                got.extend(m.value.decode() for m in recs)
        return got
    finally:
        cons.close()


def read(c, n):
    got = []
    while len(got) < n and time.monotonic() < DEADLINE:
        for recs in c.poll(timeout_ms=500).values():
            got.extend(recs)
    return got[:n]


def emit(got, n):
    for m in got:
        print(m.value.decode())
    if len(got) < n:
        fail("read %d of %d records before the deadline" % (len(got), n))


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # report the client's own exception text
        traceback.print_exc(file=sys.stderr)
        fail("%s: %s" % (type(e).__name__, e))
