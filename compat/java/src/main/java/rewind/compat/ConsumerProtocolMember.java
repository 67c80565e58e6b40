package rewind.compat;

import java.io.InputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * One member of a consumer group with Kafka 4's consumer protocol (KIP-848,
 * group.protocol=consumer), for compat's TestConsumerProtocolJava:
 *
 * <pre>
 *   java -cp ... rewind.compat.Main member BOOTSTRAP TOPIC GROUP NAME [INSTANCE]
 * </pre>
 *
 * With INSTANCE it is a static member (group.instance.id): closing it
 * leaves for a restart (member epoch -2), keeping its partitions for its
 * next incarnation.
 *
 * It consumes until its standard input ends, then closes the consumer
 * (committing and leaving the group), printing the lines of
 * compat/python/consumer_protocol_member.py: assign|revoke|lost T P,P,...;
 * rec T P OFFSET; closed T, with T in nanoseconds since the epoch.
 */
final class ConsumerProtocolMember {
  private ConsumerProtocolMember() {}

  static long now() {
    Instant i = Instant.now();
    return i.getEpochSecond() * 1_000_000_000L + i.getNano();
  }

  static synchronized void emit(String line) {
    System.out.println(line);
    System.out.flush();
  }

  static String parts(Collection<TopicPartition> ps) {
    if (ps.isEmpty()) {
      return "-";
    }
    return ps.stream().map(tp -> Integer.toString(tp.partition())).collect(Collectors.joining(","));
  }

  static void run(String bootstrap, String topic, String group, String name, String instance) throws Exception {
    AtomicBoolean stop = new AtomicBoolean();
    Thread stdin = new Thread(() -> {
      try (InputStream in = System.in) {
        while (in.read() >= 0) {
          // only the end matters
        }
      } catch (Exception e) {
        // an unreadable stdin ends the member as its end does
      }
      stop.set(true);
    });
    stdin.setDaemon(true);
    stdin.start();

    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
    if (instance != null) {
      p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instance);
    }
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true");
    p.put(ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, "200");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
      c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> ps) {
          emit("assign " + now() + " " + parts(ps));
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> ps) {
          // Commit what was processed before giving the partitions up.
          c.commitSync();
          emit("revoke " + now() + " " + parts(ps));
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> ps) {
          emit("lost " + now() + " " + parts(ps));
        }
      });
      while (!stop.get()) {
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
          emit("rec " + now() + " " + r.partition() + " " + r.offset());
        }
      }
      c.commitSync();
    }
    emit("closed " + now());
  }
}
