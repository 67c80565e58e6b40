package rewind.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Share groups (KIP-932) with kafka-clients' KafkaShareConsumer.
 *
 * <p>poll + accept: a share consumer of PREFIX-share-g (explicit acknowledgement) subscribes to PREFIX-share;
 * warm-up records are produced until it gets one (a share partition starts at the log's end when first fetched);
 * then 10 records: each is accepted but s-03, released once (it comes back with delivery count 2) and s-05,
 * rejected; commitSync reports no error.
 *
 * <p>second consumer: the first closes, a second consumer of the group gets exactly the 5 records produced next:
 * nothing accepted or rejected comes back.
 *
 * <p>describeShareGroups: while the second consumer is in the group, the Admin describes it Stable with one member
 * assigned the partition; once it closed, Empty.
 */
final class Shares {
  static void run(Main.Report r, String bootstrap, String prefix) throws Exception {
    String topic = prefix + "-share", group = prefix + "-share-g";
    try (Admin admin = Clients.admin(bootstrap)) {
      Clients.createTopics(admin, topic);
    }
    KafkaProducer<String, String> producer = Clients.producer(bootstrap, "none");
    try (producer) {
      r.check("poll + accept", () -> {
        try (KafkaShareConsumer<String, String> c = consumer(bootstrap, group)) {
          c.subscribe(Set.of(topic));
          long deadline = System.nanoTime() + Clients.WAIT.toNanos();
          boolean warm = false;
          while (!warm) {
            Main.expect(System.nanoTime() < deadline, "no warm-up record received in %s", Clients.WAIT);
            producer.send(new ProducerRecord<>(topic, "warm")).get(30, TimeUnit.SECONDS);
            for (ConsumerRecord<String, String> rec : c.poll(Duration.ofMillis(500))) {
              c.acknowledge(rec, AcknowledgeType.ACCEPT);
              warm = true;
            }
            c.commitSync();
          }
          List<String> want = Clients.values("s", 0, 10, 0);
          for (String v : want) {
            producer.send(new ProducerRecord<>(topic, v));
          }
          producer.flush();
          Map<String, Short> accepted = new TreeMap<>();
          int s03deliveries = 0;
          while (accepted.size() < 9) {
            Main.expect(System.nanoTime() < deadline + Clients.WAIT.toNanos(), "accepted %s, want the 9 of %s", accepted.keySet(), want);
            for (ConsumerRecord<String, String> rec : c.poll(Duration.ofMillis(500))) {
              String v = rec.value();
              short dc = rec.deliveryCount().orElse((short) -1);
              if (v.equals("warm")) {
                c.acknowledge(rec, AcknowledgeType.ACCEPT);
              } else if (v.equals("s-03") && dc == 1) {
                c.acknowledge(rec, AcknowledgeType.RELEASE);
              } else if (v.equals("s-05")) {
                Main.expect(dc == 1, "s-05 delivered with count %d after it was rejected", dc);
                c.acknowledge(rec, AcknowledgeType.REJECT);
              } else {
                Main.expect(!accepted.containsKey(v), "%s delivered again after it was accepted", v);
                if (v.equals("s-03")) {
                  s03deliveries = dc;
                }
                accepted.put(v, dc);
                c.acknowledge(rec, AcknowledgeType.ACCEPT);
              }
            }
            Map<TopicIdPartition, Optional<KafkaException>> res = c.commitSync();
            for (var e : res.entrySet()) {
              Main.expect(e.getValue().isEmpty(), "commitSync %s: %s", e.getKey(), e.getValue());
            }
          }
          Main.expectEq(s03deliveries, 2, "delivery count of s-03 after its release");
        }
      });
      r.check("second consumer", () -> {
        try (KafkaShareConsumer<String, String> c = consumer(bootstrap, group)) {
          c.subscribe(Set.of(topic));
          List<String> want = Clients.values("t", 0, 5, 0);
          // The share partition exists already: nothing to warm up.
          for (String v : want) {
            producer.send(new ProducerRecord<>(topic, v));
          }
          producer.flush();
          List<String> got = new ArrayList<>();
          long deadline = System.nanoTime() + Clients.WAIT.toNanos();
          while (got.size() < want.size()) {
            Main.expect(System.nanoTime() < deadline, "got %s, want %s", got, want);
            for (ConsumerRecord<String, String> rec : c.poll(Duration.ofMillis(500))) {
              got.add(rec.value());
              c.acknowledge(rec, AcknowledgeType.ACCEPT);
            }
            c.commitSync();
          }
          Main.expectEq(got, want, "records of the second consumer");
          try (Admin admin = Clients.admin(bootstrap)) {
            ShareGroupDescription d = admin.describeShareGroups(Set.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
            Main.expectEq(d.groupState(), GroupState.STABLE, "state while a member is in the group");
            Main.expectEq(d.members().size(), 1, "members");
            Main.expectEq(d.members().iterator().next().assignment().topicPartitions().size(), 1, "partitions assigned");
          }
        }
      }, "poll + accept");
      r.check("describeShareGroups", () -> {
        try (Admin admin = Clients.admin(bootstrap)) {
          ShareGroupDescription d = admin.describeShareGroups(Set.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
          Main.expectEq(d.groupState(), GroupState.EMPTY, "state once every member left");
          Main.expectEq(d.members().size(), 0, "members");
        }
      }, "second consumer");
    }
  }

  static KafkaShareConsumer<String, String> consumer(String bootstrap, String group) {
    Properties p = Clients.common(bootstrap);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put("share.acknowledgement.mode", "explicit");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    return new KafkaShareConsumer<>(p);
  }
}
