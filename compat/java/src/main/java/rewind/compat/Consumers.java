package rewind.compat;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * The consumer on PREFIX (20 records with timestamps one second apart): a
 * group member that reads 10 and commits them with commitSync, a new member
 * of the same group that resumes at offset 10, seek, and offsetsForTimes.
 */
final class Consumers {
  static final int RECORDS = 20, FIRST = 10;

  static void run(Main.Report r, String bootstrap, String prefix) throws Exception {
    String topic = prefix, group = prefix + "-group";
    TopicPartition tp = new TopicPartition(topic, 0);
    List<String> want = Clients.values("consumer", 0, RECORDS, 0);
    // Record i has timestamp base + i seconds.
    long base = System.currentTimeMillis() - 3_600_000L;
    try (Admin admin = Clients.admin(bootstrap)) {
      Clients.createTopics(admin, topic);
    }
    try (KafkaProducer<String, String> p = Clients.producer(bootstrap, "none")) {
      for (int i = 0; i < RECORDS; i++) {
        p.send(new ProducerRecord<>(topic, 0, base + i * 1000L, "k", want.get(i)));
      }
      p.flush();
    }

    r.check("subscribe + commitSync", () -> {
      try (KafkaConsumer<String, String> c = Clients.consumer(bootstrap, group)) {
        c.subscribe(List.of(topic));
        List<ConsumerRecord<String, String>> got = Clients.poll(c, FIRST);
        Clients.sameValues(got, want.subList(0, FIRST), 0);
        Main.expectEq(c.assignment(), Set.of(tp), "assignment");
        c.commitSync(Map.of(tp, new OffsetAndMetadata(FIRST, "compat")));
        OffsetAndMetadata committed = c.committed(Set.of(tp)).get(tp);
        Main.expect(committed != null, "committed() after commitSync gives nothing");
        Main.expectEq(committed.offset(), (long) FIRST, "committed offset");
        Main.expectEq(committed.metadata(), "compat", "committed metadata");
      }
    });

    r.check("resume after restart", () -> {
      try (KafkaConsumer<String, String> c = Clients.consumer(bootstrap, group)) {
        c.subscribe(List.of(topic));
        List<ConsumerRecord<String, String>> got = Clients.poll(c, RECORDS - FIRST);
        Clients.sameValues(got, want.subList(FIRST, RECORDS), FIRST);
        c.commitSync();
        Main.expectEq(c.committed(Set.of(tp)).get(tp).offset(), (long) RECORDS, "committed offset after commitSync()");
      }
    }, "subscribe + commitSync");

    r.check("seek", () -> {
      try (KafkaConsumer<String, String> c = Clients.consumer(bootstrap, null)) {
        c.assign(Set.of(tp));
        c.seek(tp, 15);
        Clients.sameValues(Clients.poll(c, 1), want.subList(15, 16), 15);
        c.seekToBeginning(Set.of(tp));
        Clients.sameValues(Clients.poll(c, 1), want.subList(0, 1), 0);
        c.seekToEnd(Set.of(tp));
        Main.expectEq(c.position(tp), (long) RECORDS, "position after seekToEnd");
        Main.expectEq(c.endOffsets(Set.of(tp)).get(tp), (long) RECORDS, "endOffsets");
        Main.expectEq(c.beginningOffsets(Set.of(tp)).get(tp), 0L, "beginningOffsets");
      }
    });

    r.check("offsetsForTimes", () -> {
      try (KafkaConsumer<String, String> c = Clients.consumer(bootstrap, null)) {
        long t7 = base + 7000L;
        OffsetAndTimestamp at = c.offsetsForTimes(Map.of(tp, t7)).get(tp);
        Main.expect(at != null, "offsetsForTimes(ts of offset 7) gives nothing");
        Main.expectEq(at.offset(), 7L, "offsetsForTimes(ts of offset 7).offset");
        Main.expectEq(at.timestamp(), t7, "offsetsForTimes(ts of offset 7).timestamp");
        at = c.offsetsForTimes(Map.of(tp, t7 + 1)).get(tp);
        Main.expect(at != null, "offsetsForTimes(ts of offset 7 + 1 ms) gives nothing");
        Main.expectEq(at.offset(), 8L, "offsetsForTimes(ts of offset 7 + 1 ms).offset");
        at = c.offsetsForTimes(Map.of(tp, base - 1)).get(tp);
        Main.expect(at != null && at.offset() == 0, "offsetsForTimes(before the first) = %s, want offset 0", at);
        at = c.offsetsForTimes(Map.of(tp, base + RECORDS * 1000L)).get(tp);
        Main.expect(at == null, "offsetsForTimes(after the last) = %s, want null", at);
        c.assign(Set.of(tp));
        c.seek(tp, c.offsetsForTimes(Map.of(tp, base + 12_000L)).get(tp).offset());
        Clients.sameValues(Clients.poll(c, 1), want.subList(12, 13), 12);
      }
    });
  }

  private Consumers() {}
}
