#!/usr/bin/python3
"""One member of a consumer group with Kafka 4's consumer protocol (KIP-848,
group.protocol=consumer) on confluent-kafka-python, for compat's
TestConsumerProtocolPython. It needs librdkafka 2.12+ (the PyPI wheel).

Usage: consumer_protocol_member.py BOOTSTRAP TOPIC GROUP NAME

It consumes from the group until its standard input ends, then closes the
consumer (committing and leaving the group), printing one line per event,
with time.time_ns() as T:
  assign T P,P,...   partitions given to it (incremental)
  revoke T P,P,...   partitions it gave up
  lost T P,P,...     partitions taken from it
  rec T P OFFSET     a record it processed
  closed T
Failures print "ERROR: ..." on stderr and exit 1.
"""
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException


def main():
    bootstrap, topic, group, name = sys.argv[1:5]
    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    def emit(*fields):
        print(" ".join(str(f) for f in fields), flush=True)

    def parts(ps):
        return ",".join(str(p.partition) for p in ps) or "-"

    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "client.id": name,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 200,
    })
    c.subscribe([topic],
                on_assign=lambda _c, ps: emit("assign", time.time_ns(), parts(ps)),
                on_revoke=lambda _c, ps: emit("revoke", time.time_ns(), parts(ps)),
                on_lost=lambda _c, ps: emit("lost", time.time_ns(), parts(ps)))
    try:
        while not stop.is_set():
            m = c.poll(0.1)
            if m is None:
                continue
            if m.error():
                if m.error().fatal():
                    raise KafkaException(m.error())
                continue
            emit("rec", time.time_ns(), m.partition(), m.offset())
    finally:
        c.close()
        emit("closed", time.time_ns())


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - any failure is the row's answer
        print("ERROR: %s" % e, file=sys.stderr)
        sys.exit(1)
