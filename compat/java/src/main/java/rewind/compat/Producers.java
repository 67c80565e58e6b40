package rewind.compat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * The idempotent producer (acks=all, enable.idempotence=true: InitProducerId,
 * then sequenced batches), uncompressed and with each codec, into
 * PREFIX-CODEC. Each check reads its records back from offset 0; the Go side
 * then checks the stored batches carry the codec and a producer id.
 */
final class Producers {
  static final String[] CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};
  static final int RECORDS = 20;

  static void run(Main.Report r, String bootstrap, String prefix) throws Exception {
    try (Admin admin = Clients.admin(bootstrap)) {
      List<String> topics = new ArrayList<>();
      for (String codec : CODECS) {
        topics.add(prefix + "-" + codec);
      }
      Clients.createTopics(admin, topics.toArray(new String[0]));
    }
    for (String codec : CODECS) {
      String cap = codec.equals("none") ? "idempotent" : codec;
      r.check(cap, () -> produceAndRead(bootstrap, prefix + "-" + codec, codec));
    }
  }

  private static void produceAndRead(String bootstrap, String topic, String codec) throws Exception {
    List<String> want = Clients.values(codec, 0, RECORDS, codec.equals("none") ? 0 : 120);
    try (KafkaProducer<String, String> p = Clients.producer(bootstrap, codec)) {
      List<Future<RecordMetadata>> acks = new ArrayList<>();
      for (String v : want) {
        acks.add(p.send(new ProducerRecord<>(topic, 0, "k", v)));
      }
      p.flush();
      for (int i = 0; i < acks.size(); i++) {
        RecordMetadata m = acks.get(i).get(30, TimeUnit.SECONDS);
        Main.expect(m.offset() == i, "send %d acknowledged at offset %d, want %d", i, m.offset(), i);
      }
    }
    Clients.sameValues(Clients.readFromStart(bootstrap, topic, RECORDS), want, 0);
  }

  private Producers() {}
}
