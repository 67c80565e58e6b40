#!/usr/bin/env python3
"""Drives aiokafka (asyncio; from PyPI, in the project-local virtual
environment .cache/venv that .ci/compat.sh makes from
compat/python/requirements.txt) for the compatibility suite.

Usage: aiokafka_client.py OP BOOTSTRAP [ARGS]
  version
  create BOOTSTRAP PARTITIONS TOPIC...
  metadata BOOTSTRAP              prints topic names
  produce BOOTSTRAP TOPIC CODEC   values on stdin, one a line
  consume BOOTSTRAP TOPIC N       prints N values read from the beginning
  group BOOTSTRAP TOPIC GROUP N   joins GROUP, prints N values, commits, leaves

Failures print "ERROR: ..." on stderr and exit 1.
"""
import asyncio
import sys
import time
import traceback

DEADLINE = time.monotonic() + 50


def fail(msg):
    print("ERROR: " + msg, file=sys.stderr)
    sys.exit(1)


def left():
    return max(1.0, DEADLINE - time.monotonic())


async def main():
    op = sys.argv[1]
    import aiokafka
    if op == "version":
        import platform
        try:
            import cramjam
            codecs = "cramjam %s" % cramjam.__version__
        except ImportError:
            codecs = "cramjam missing"
        print("aiokafka %s (Python %s; %s)" % (aiokafka.__version__, platform.python_version(), codecs))
        return
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    bootstrap = sys.argv[2]
    common = dict(bootstrap_servers=bootstrap, client_id="rewind-compat-aiokafka")

    if op == "create":
        parts = int(sys.argv[3])
        adm = AIOKafkaAdminClient(**common)
        await adm.start()
        try:
            resp = await adm.create_topics([NewTopic(t, parts, 1) for t in sys.argv[4:]], timeout_ms=20000)
        finally:
            await adm.close()
        # topic_errors: (name, error_code[, error_message]) per topic.
        errs = [e for e in resp.topic_errors if e[1] != 0]
        if errs:
            fail("CreateTopics: %r" % (errs,))
        if len(resp.topic_errors) != len(sys.argv[4:]):
            fail("CreateTopics answered for %d topics, asked %d" % (len(resp.topic_errors), len(sys.argv[4:])))
    elif op == "metadata":
        c = AIOKafkaConsumer(**common)
        await c.start()
        try:
            for t in sorted(await c.topics()):
                print(t)
        finally:
            await c.stop()
    elif op == "produce":
        topic, codec = sys.argv[3], sys.argv[4]
        p = AIOKafkaProducer(acks="all", linger_ms=5, compression_type=None if codec == "none" else codec,
                             enable_idempotence=False, **common)
        await p.start()
        try:
            futs = [await p.send(topic, value=line.rstrip("\n").encode(), partition=0) for line in sys.stdin]
            await asyncio.wait_for(asyncio.gather(*futs), left())
        finally:
            await p.stop()
    elif op == "consume":
        topic, n = sys.argv[3], int(sys.argv[4])
        c = AIOKafkaConsumer(enable_auto_commit=False, **common)
        await c.start()
        try:
            tp = TopicPartition(topic, 0)
            c.assign([tp])
            await c.seek_to_beginning(tp)
            got = await read(c, n)
        finally:
            await c.stop()
        emit(got, n)
    elif op == "group":
        topic, group, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
        c = AIOKafkaConsumer(topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False, **common)
        await c.start()
        try:
            got = await read(c, n)
            if len(got) == n:
                last = got[-1]
                await c.commit({TopicPartition(last.topic, last.partition): last.offset + 1})
        finally:
            await c.stop()  # sends LeaveGroup
        emit(got, n)
    else:
        fail("unknown op " + op)


async def read(c, n):
    got = []
    while len(got) < n and time.monotonic() < DEADLINE:
        batches = await c.getmany(timeout_ms=500, max_records=n - len(got))
        for recs in batches.values():
            got.extend(recs)
    return got[:n]


def emit(got, n):
    for m in got:
        print(m.value.decode())
    if len(got) < n:
        fail("read %d of %d records before the deadline" % (len(got), n))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except SystemExit:
        raise
    except BaseException as e:  # report the client's own exception text
        traceback.print_exc(file=sys.stderr)
        fail("%s: %s" % (type(e).__name__, e))
