package rewind.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Client construction and small helpers shared by the modes. */
final class Clients {
  /** Bound on every wait for records or states. */
  static final Duration WAIT = Duration.ofSeconds(30);

  static Properties common(String bootstrap) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("request.timeout.ms", "20000");
    p.put("default.api.timeout.ms", "30000");
    return p;
  }

  static Admin admin(String bootstrap) {
    Properties p = common(bootstrap);
    p.put(AdminClientConfig.CLIENT_ID_CONFIG, "rewind-compat-admin");
    return Admin.create(p);
  }

  static KafkaProducer<String, String> producer(String bootstrap, String codec) {
    Properties p = common(bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    return new KafkaProducer<>(p);
  }

  static KafkaConsumer<String, String> consumer(String bootstrap, String group) {
    Properties p = common(bootstrap);
    if (group != null) {
      p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    }
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "1");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    return new KafkaConsumer<>(p);
  }

  /** Creates single-partition topics, accepting ones that exist. */
  static void createTopics(Admin admin, String... names) throws Exception {
    List<NewTopic> topics = new ArrayList<>();
    for (String n : names) {
      topics.add(new NewTopic(n, 1, (short) 1));
    }
    try {
      admin.createTopics(topics).all().get(30, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw e;
      }
    }
  }

  /** Polls until n records arrived (max.poll.records=1 keeps it exact). */
  static List<ConsumerRecord<String, String>> poll(KafkaConsumer<String, String> c, int n) {
    List<ConsumerRecord<String, String>> out = new ArrayList<>();
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (out.size() < n) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("got " + out.size() + " records within " + WAIT.toSeconds() + " s, want " + n
            + (out.isEmpty() ? "" : " (last offset " + out.get(out.size() - 1).offset() + ")"));
      }
      for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
        out.add(r);
      }
    }
    return out;
  }

  /** Reads the first n records of partition 0 without a group. */
  static List<ConsumerRecord<String, String>> readFromStart(String bootstrap, String topic, int n) {
    try (KafkaConsumer<String, String> c = consumer(bootstrap, null)) {
      TopicPartition tp = new TopicPartition(topic, 0);
      c.assign(Set.of(tp));
      c.seekToBeginning(Set.of(tp));
      return poll(c, n);
    }
  }

  /** Compares record values with want, naming the first difference. */
  static void sameValues(List<ConsumerRecord<String, String>> got, List<String> want, long firstOffset) {
    for (int i = 0; i < Math.min(got.size(), want.size()); i++) {
      ConsumerRecord<String, String> r = got.get(i);
      Main.expect(r.value().equals(want.get(i)), "record %d (offset %d): got %s, want %s", i, r.offset(),
          shortText(r.value()), shortText(want.get(i)));
      Main.expect(r.offset() == firstOffset + i, "record %d: offset %d, want %d", i, r.offset(), firstOffset + i);
    }
    Main.expect(got.size() == want.size(), "got %d records, want %d", got.size(), want.size());
  }

  static List<String> values(String prefix, int from, int to, int pad) {
    List<String> out = new ArrayList<>();
    for (int i = from; i < to; i++) {
      out.add(String.format("%s-%02d", prefix, i) + (pad > 0 ? " " + "rewind ".repeat(pad / 7) : ""));
    }
    return out;
  }

  static String shortText(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "…";
  }

  private Clients() {}
}
