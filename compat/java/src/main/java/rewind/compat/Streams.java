package rewind.compat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Kafka Streams word count (at_least_once, record cache off so every count
 * update is emitted) from PREFIX-in to PREFIX-out through a repartition
 * topic and a changelogged store, both created by Streams. A first instance
 * counts two input lines and commits; a second instance with the same
 * application.id and an empty state directory (so the store comes back from
 * its changelog) counts a third line. Committed input reprocessed, or a
 * store not restored, shows in the counts.
 */
final class Streams {
  static final List<String> FIRST = List.of("apple banana apple", "cherry");
  static final List<String> SECOND = List.of("apple cherry date");

  static void run(Main.Report r, String bootstrap, String prefix) throws Exception {
    String in = prefix + "-in", out = prefix + "-out", app = prefix + "-app";
    TopicPartition inTp = new TopicPartition(in, 0);
    try (Admin admin = Clients.admin(bootstrap);
        KafkaProducer<String, String> producer = Clients.producer(bootstrap, "none");
        KafkaConsumer<String, Long> output = outputConsumer(bootstrap, out)) {
      Clients.createTopics(admin, in, out);
      output.assign(Set.of(new TopicPartition(out, 0)));
      output.seekToBeginning(Set.of(new TopicPartition(out, 0)));

      KafkaStreams[] first = {null};
      r.check("process", () -> {
        first[0] = start(bootstrap, app);
        send(producer, in, FIRST);
        List<String> got = counts(output, 4);
        Main.expectEq(got, List.of("apple=1", "banana=1", "apple=2", "cherry=1"), "count updates");
      });

      r.check("commit", () -> {
        long deadline = System.nanoTime() + Clients.WAIT.toNanos();
        long at = -1;
        while (System.nanoTime() < deadline) {
          OffsetAndMetadata o = Admins.get(admin.listConsumerGroupOffsets(app).partitionsToOffsetAndMetadata()).get(inTp);
          at = o == null ? -1 : o.offset();
          if (at == FIRST.size()) {
            break;
          }
          Thread.sleep(200);
        }
        Main.expectEq(at, (long) FIRST.size(), "committed offset of the input (group " + app + ")");
        Main.expect(stop(first[0]), "first instance did not close within 30 s");
        OffsetAndMetadata o = Admins.get(admin.listConsumerGroupOffsets(app).partitionsToOffsetAndMetadata()).get(inTp);
        Main.expectEq(o == null ? null : o.offset(), (long) FIRST.size(), "committed offset after close");
      }, "process");
      if (first[0] != null) {
        stop(first[0]);
      }

      r.check("resume after restart", () -> {
        KafkaStreams second = start(bootstrap, app);
        try {
          send(producer, in, SECOND);
          List<String> got = counts(output, 3);
          Main.expectEq(got, List.of("apple=3", "cherry=2", "date=1"), "count updates after the restart");
          // Anything more is a reprocessed input line.
          List<String> extra = new ArrayList<>();
          long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
          while (System.nanoTime() < until) {
            for (ConsumerRecord<String, Long> c : output.poll(Duration.ofMillis(200))) {
              extra.add(c.key() + "=" + c.value());
            }
          }
          Main.expect(extra.isEmpty(), "more count updates after the restart: %s (input reprocessed)", extra);
          long deadline = System.nanoTime() + Clients.WAIT.toNanos();
          long at = -1;
          while (System.nanoTime() < deadline && at != FIRST.size() + SECOND.size()) {
            OffsetAndMetadata o = Admins.get(admin.listConsumerGroupOffsets(app).partitionsToOffsetAndMetadata()).get(inTp);
            at = o == null ? -1 : o.offset();
            Thread.sleep(200);
          }
          Main.expectEq(at, (long) (FIRST.size() + SECOND.size()), "committed offset of the input after the restart");
        } finally {
          stop(second);
        }
      }, "commit");
    }
  }

  private static KafkaStreams start(String bootstrap, String app) throws Exception {
    StreamsBuilder b = new StreamsBuilder();
    b.stream(app.replaceFirst("-app$", "-in"), org.apache.kafka.streams.kstream.Consumed.with(Serdes.String(), Serdes.String()))
        .flatMapValues(line -> Arrays.asList(line.split(" ")))
        .groupBy((k, word) -> word)
        .count(Materialized.as("counts"))
        .toStream()
        .to(app.replaceFirst("-app$", "-out"), Produced.with(Serdes.String(), Serdes.Long()));
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "200");
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, "0");
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "1");
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, "1");
    p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class.getName());
    p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class.getName());
    // A new, empty state directory each start: the second instance must
    // restore the store from its changelog topic.
    p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("rewind-streams").toString());
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    KafkaStreams s = new KafkaStreams(b.build(), p);
    Throwable[] died = {null};
    s.setUncaughtExceptionHandler(e -> {
      died[0] = e;
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    s.start();
    long deadline = System.nanoTime() + Clients.WAIT.toNanos();
    while (s.state() != KafkaStreams.State.RUNNING) {
      if (died[0] != null) {
        throw new AssertionError("stream thread died: " + Main.describe(died[0]));
      }
      Main.expect(System.nanoTime() < deadline, "not RUNNING within %d s (state %s)", Clients.WAIT.toSeconds(), s.state());
      Thread.sleep(100);
    }
    return s;
  }

  /**
   * Closes with a LeaveGroup, as a planned restart does: Streams otherwise
   * stays in the group until its session times out (45 s), on Kafka as on
   * Rewind, and the next instance waits for that.
   */
  private static boolean stop(KafkaStreams s) {
    return s.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
        .withTimeout(Duration.ofSeconds(30)));
  }

  private static void send(KafkaProducer<String, String> p, String topic, List<String> lines) throws Exception {
    for (String l : lines) {
      p.send(new ProducerRecord<>(topic, 0, null, l)).get(30, TimeUnit.SECONDS);
    }
  }

  private static KafkaConsumer<String, Long> outputConsumer(String bootstrap, String topic) {
    Properties p = Clients.common(bootstrap);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class.getName());
    return new KafkaConsumer<>(p);
  }

  /** Reads n count updates as word=count, in offset order. */
  private static List<String> counts(KafkaConsumer<String, Long> c, int n) {
    List<String> got = new ArrayList<>();
    long deadline = System.nanoTime() + Clients.WAIT.toNanos();
    while (got.size() < n) {
      Main.expect(System.nanoTime() < deadline, "got %d count updates within %d s, want %d: %s", got.size(),
          Clients.WAIT.toSeconds(), n, got);
      for (ConsumerRecord<String, Long> r : c.poll(Duration.ofMillis(200))) {
        got.add(r.key() + "=" + r.value());
      }
    }
    return got;
  }

  private Streams() {}
}
