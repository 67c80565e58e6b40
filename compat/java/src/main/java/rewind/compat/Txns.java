package rewind.compat;

import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Transactions with kafka-clients and Kafka Streams exactly_once_v2.
 *
 * <p>txn: a transactional producer (initTransactions) commits 5 records to PREFIX-txn, aborts 5, commits 5; a
 * read_committed consumer reads partition 0 to its end: exactly the 10 committed values, in order; a
 * read_uncommitted one reads all 15.
 *
 * <p>eos: a Kafka Streams application with processing.guarantee=exactly_once_v2 upper-cases PREFIX-eos-in into
 * PREFIX-eos-out; the first instance processes 10 records and is closed, a second with the same application.id
 * processes 5 more; a read_committed consumer of the output reads exactly the 15 upper-cased values, each once.
 */
final class Txns {
  static void run(Main.Report r, String bootstrap, String prefix) throws Exception {
    String topic = prefix + "-txn";
    try (Admin admin = Clients.admin(bootstrap)) {
      Clients.createTopics(admin, topic, prefix + "-eos-in", prefix + "-eos-out");
    }
    List<String> committed = new ArrayList<>(), all = new ArrayList<>();
    r.check("commit", () -> {
      try (KafkaProducer<String, String> p = txnProducer(bootstrap, prefix + "-producer")) {
        p.initTransactions();
        txn(p, topic, "committed1", committed, all, true);
        txn(p, topic, "aborted", null, all, false);
        txn(p, topic, "committed2", committed, all, true);
      }
    });
    r.check("abort", () -> {
      List<String> got = readToEnd(bootstrap, topic, "read_uncommitted");
      Main.expectEq(got, all, "read_uncommitted values (the aborted ones are in the log)");
    }, "commit");
    r.check("read_committed", () -> {
      List<String> got = readToEnd(bootstrap, topic, "read_committed");
      Main.expectEq(got, committed, "read_committed values");
    }, "commit");
    r.check("exactly_once_v2", () -> eos(bootstrap, prefix));
  }

  private static KafkaProducer<String, String> txnProducer(String bootstrap, String id) {
    Properties p = Clients.common(bootstrap);
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
    return new KafkaProducer<>(p);
  }

  private static void txn(KafkaProducer<String, String> p, String topic, String name, List<String> committed,
      List<String> all, boolean commit) throws Exception {
    p.beginTransaction();
    for (int i = 0; i < 5; i++) {
      String v = name + "-" + i;
      p.send(new ProducerRecord<>(topic, 0, null, v)).get(30, TimeUnit.SECONDS);
      all.add(v);
      if (commit) {
        committed.add(v);
      }
    }
    if (commit) {
      p.commitTransaction();
    } else {
      p.abortTransaction();
    }
  }

  /** Reads partition 0 from the start until the consumer's position reaches the end it sees. */
  private static List<String> readToEnd(String bootstrap, String topic, String isolation) {
    Properties p = Clients.common(bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.StringDeserializer.class.getName());
    List<String> got = new ArrayList<>();
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
      TopicPartition tp = new TopicPartition(topic, 0);
      c.assign(Set.of(tp));
      c.seekToBeginning(Set.of(tp));
      // endOffsets follows the consumer's isolation level: the last stable offset for read_committed.
      long end = c.endOffsets(Set.of(tp)).get(tp);
      long deadline = System.nanoTime() + Clients.WAIT.toNanos();
      while (c.position(tp) < end) {
        Main.expect(System.nanoTime() < deadline, "position %d within %d s, want %d (read %s)", c.position(tp),
            Clients.WAIT.toSeconds(), end, got);
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
          got.add(r.value());
        }
      }
    }
    return got;
  }

  private static void eos(String bootstrap, String prefix) throws Exception {
    String in = prefix + "-eos-in", out = prefix + "-eos-out", app = prefix + "-eos-app";
    List<String> want = new ArrayList<>();
    try (KafkaProducer<String, String> producer = Clients.producer(bootstrap, "none")) {
      for (int round = 0; round < 2; round++) {
        KafkaStreams s = start(bootstrap, app, in, out);
        try {
          int from = round == 0 ? 0 : 10, to = round == 0 ? 10 : 15;
          for (int i = from; i < to; i++) {
            String v = "eos-" + i;
            producer.send(new ProducerRecord<>(in, 0, null, v)).get(30, TimeUnit.SECONDS);
            want.add(v.toUpperCase());
          }
          waitOutput(bootstrap, out, want.size());
        } finally {
          Main.expect(s.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
              .withTimeout(Duration.ofSeconds(30))), "instance %d did not close within 30 s", round + 1);
        }
      }
    }
    Main.expectEq(readToEnd(bootstrap, out, "read_committed"), want, "read_committed output of the exactly_once_v2 application");
  }

  private static void waitOutput(String bootstrap, String out, int n) throws Exception {
    long deadline = System.nanoTime() + Clients.WAIT.toNanos();
    while (true) {
      int got = readToEnd(bootstrap, out, "read_committed").size();
      if (got >= n) {
        return;
      }
      Main.expect(System.nanoTime() < deadline, "%d of %d output records committed within %d s", got, n, Clients.WAIT.toSeconds());
      Thread.sleep(200);
    }
  }

  private static KafkaStreams start(String bootstrap, String app, String in, String out) throws Exception {
    StreamsBuilder b = new StreamsBuilder();
    b.stream(in, Consumed.with(Serdes.String(), Serdes.String()))
        .mapValues(v -> v.toUpperCase())
        .to(out, Produced.with(Serdes.String(), Serdes.String()));
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "200");
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "1");
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, "1");
    p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("rewind-eos").toString());
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

  private Txns() {}
}
