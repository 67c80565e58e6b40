package rewind.compat;

import java.io.FileReader;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The security cases of compat/security_test.go: each line of the spec is
 * {@code name<TAB>client.properties<TAB>topic<TAB>value,value,...}. The
 * producer and the consumer are configured from the properties file alone,
 * as a user's application loads it (sasl.jaas.config, ssl.truststore.type=PEM,
 * ssl.keystore.type=PEM); the records go to partition 0 with acks=all and
 * are read back from offset 0 without a group.
 */
final class Security {
  static void run(Main.Report r, String spec) throws Exception {
    for (String line : Files.readAllLines(Path.of(spec))) {
      if (line.isBlank()) {
        continue;
      }
      String[] f = line.split("\t", 4);
      List<String> want = Arrays.asList(f[3].split(","));
      r.check(f[0], () -> produceAndRead(load(f[1]), f[2], want));
    }
  }

  static Properties load(String path) throws Exception {
    Properties p = new Properties();
    try (Reader in = new FileReader(path)) {
      p.load(in);
    }
    return p;
  }

  private static void produceAndRead(Properties props, String topic, List<String> want) throws Exception {
    Properties pp = (Properties) props.clone();
    pp.put("key.serializer", StringSerializer.class.getName());
    pp.put("value.serializer", StringSerializer.class.getName());
    pp.put("acks", "all");
    // A refused authentication or topic fails within seconds, not the
    // default two minutes.
    pp.put("max.block.ms", "10000");
    pp.put("request.timeout.ms", "10000");
    pp.put("delivery.timeout.ms", "15000");
    try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
      for (String v : want) {
        p.send(new ProducerRecord<>(topic, 0, null, v)).get(20, TimeUnit.SECONDS);
      }
    }
    Properties cp = (Properties) props.clone();
    cp.put("key.deserializer", StringDeserializer.class.getName());
    cp.put("value.deserializer", StringDeserializer.class.getName());
    cp.put("enable.auto.commit", "false");
    List<String> got = new ArrayList<>();
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
      TopicPartition tp = new TopicPartition(topic, 0);
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (got.size() < want.size() && System.nanoTime() < end) {
        for (ConsumerRecord<String, String> rec : c.poll(Duration.ofMillis(500))) {
          got.add(rec.value());
        }
      }
    }
    Main.expectEq(got, want, "records read back");
  }

  private Security() {}
}
