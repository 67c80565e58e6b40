package rewind.compat;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.InvalidReplicaAssignmentException;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.TopicPartitionReplica;
import org.apache.kafka.common.errors.LogDirNotFoundException;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownMemberIdException;

/**
 * The AdminClient calls, each checked against what an earlier step made:
 * PREFIX with 3 partitions and retention.ms=3600000, 10 records in partition
 * 0 with timestamps one second apart, group PREFIX-group with one member
 * that committed offset 5 of partition 0.
 */
final class Admins {
  static final int PARTITIONS = 3, RECORDS = 10, COMMITTED = 5;

  static <T> T get(org.apache.kafka.common.KafkaFuture<T> f) throws Exception {
    return f.get(30, TimeUnit.SECONDS);
  }

  static void run(Main.Report r, String bootstrap, String prefix) throws Exception {
    String topic = prefix, group = prefix + "-group";
    TopicPartition p0 = new TopicPartition(topic, 0);
    ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
    // Half the retention back: old enough to look up by time, far from
    // being deleted by the topic's retention.ms while the checks run.
    long base = System.currentTimeMillis() - 1_800_000L;
    try (Admin admin = Clients.admin(bootstrap)) {
      r.check("createTopics", () -> {
        get(admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1)
            .configs(Map.of("retention.ms", "3600000")))).all());
        Main.expect(get(admin.listTopics().names()).contains(topic), "listTopics does not list %s", topic);
        try {
          get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all());
          throw new AssertionError("creating " + topic + " again succeeded, want TopicExistsException");
        } catch (ExecutionException e) {
          Main.expect(e.getCause() instanceof TopicExistsException, "creating it again: %s, want TopicExistsException",
              Main.describe(e.getCause()));
        }
      });

      r.check("describeTopics", () -> {
        TopicDescription d = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
        Main.expectEq(d.name(), topic, "name");
        Main.expect(!d.isInternal(), "described as internal");
        Main.expect(d.topicId() != null && !d.topicId().equals(Uuid.ZERO_UUID), "topic id %s", d.topicId());
        Main.expectEq(d.partitions().size(), PARTITIONS, "partitions");
        for (int i = 0; i < PARTITIONS; i++) {
          TopicPartitionInfo p = d.partitions().get(i);
          Main.expectEq(p.partition(), i, "partition index");
          Main.expect(p.leader() != null && !p.leader().isEmpty(), "partition %d has no leader", i);
          Main.expectEq(p.isr().size(), 1, "partition " + i + " ISR size");
        }
        Main.expect(get(admin.describeTopics(org.apache.kafka.common.TopicCollection.ofTopicIds(List.of(d.topicId()))).allTopicIds()).get(d.topicId()).name()
            .equals(topic), "describeTopics by id gives another name");
      }, "createTopics");

      // Setup for the next checks, not a check of its own.
      try (KafkaProducer<String, String> p = Clients.producer(bootstrap, "none")) {
        for (int i = 0; i < RECORDS; i++) {
          p.send(new ProducerRecord<>(topic, 0, base + i * 1000L, "k", "admin-" + i));
        }
        p.flush();
      }

      r.check("listOffsets", () -> {
        Map<TopicPartition, ListOffsetsResultInfo> earliest = get(admin.listOffsets(Map.of(p0, OffsetSpec.earliest())).all());
        Main.expectEq(earliest.get(p0).offset(), 0L, "earliest");
        Map<TopicPartition, ListOffsetsResultInfo> latest = get(admin.listOffsets(Map.of(p0, OffsetSpec.latest())).all());
        Main.expectEq(latest.get(p0).offset(), (long) RECORDS, "latest");
        ListOffsetsResultInfo at = get(admin.listOffsets(Map.of(p0, OffsetSpec.forTimestamp(base + 4000L))).all()).get(p0);
        Main.expectEq(at.offset(), 4L, "forTimestamp(ts of offset 4)");
        Main.expectEq(at.timestamp(), base + 4000L, "forTimestamp(ts of offset 4).timestamp");
        ListOffsetsResultInfo max = get(admin.listOffsets(Map.of(p0, OffsetSpec.maxTimestamp())).all()).get(p0);
        Main.expectEq(max.offset(), (long) RECORDS - 1, "maxTimestamp offset");
        Main.expectEq(max.timestamp(), base + (RECORDS - 1) * 1000L, "maxTimestamp timestamp");
        TopicPartition p1 = new TopicPartition(topic, 1);
        Main.expectEq(get(admin.listOffsets(Map.of(p1, OffsetSpec.latest())).all()).get(p1).offset(), 0L,
            "latest of the empty partition 1");
      }, "createTopics");

      // A member that stays in the group (not polled again: the session
      // timeout, 45 s, outlasts the checks) and commits offset 5.
      KafkaConsumer<String, String> member = Clients.consumer(bootstrap, group);
      boolean joined = r.check("listConsumerGroups", () -> {
        member.subscribe(List.of(topic));
        Clients.poll(member, 1);
        member.commitSync(Map.of(p0, new OffsetAndMetadata(COMMITTED)));
        @SuppressWarnings("deprecation")
        Collection<ConsumerGroupListing> all = get(admin.listConsumerGroups().all());
        ConsumerGroupListing l = all.stream().filter(g -> g.groupId().equals(group)).findFirst()
            .orElseThrow(() -> new AssertionError(group + " not among the " + all.size() + " groups listed"));
        Main.expect(!l.isSimpleConsumerGroup(), "listed as a simple consumer group");
        Main.expectEq(l.groupState().orElse(null), GroupState.STABLE, "state");
      }, "listOffsets");

      r.check("describeConsumerGroups", () -> {
        ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
        Main.expectEq(d.groupState(), GroupState.STABLE, "state");
        Main.expectEq(d.members().size(), 1, "members");
        MemberDescription m = d.members().iterator().next();
        Main.expect(!m.consumerId().isEmpty(), "member has no id");
        Main.expectEq(m.assignment().topicPartitions(), Set.of(p0, new TopicPartition(topic, 1), new TopicPartition(topic, 2)),
            "member's assignment");
        Main.expect(!d.partitionAssignor().isEmpty(), "no partition assignor");
        Main.expect(d.coordinator() != null && !d.coordinator().isEmpty(), "no coordinator");
      }, "listConsumerGroups");

      r.check("listConsumerGroupOffsets", () -> {
        Map<TopicPartition, OffsetAndMetadata> offs = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
        Main.expect(offs.containsKey(p0), "no offset for %s: %s", p0, offs);
        Main.expectEq(offs.get(p0).offset(), (long) COMMITTED, "committed offset of partition 0");
      }, "listConsumerGroups");

      r.check("alterConsumerGroupOffsets", () -> {
        // Kafka refuses to alter the offsets of a group with members.
        try {
          get(admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(2))).all());
          throw new AssertionError("altering the offsets of a group with a member succeeded, want UnknownMemberIdException");
        } catch (ExecutionException e) {
          Main.expect(e.getCause() instanceof UnknownMemberIdException,
              "altering with a member: %s, want UnknownMemberIdException", Main.describe(e.getCause()));
        }
        member.close();
        get(admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(2, "altered"))).all());
        OffsetAndMetadata o = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()).get(p0);
        Main.expectEq(o.offset(), 2L, "offset after alter");
        Main.expectEq(o.metadata(), "altered", "metadata after alter");
        Main.expectEq(get(admin.describeConsumerGroups(List.of(group)).all()).get(group).groupState(), GroupState.EMPTY,
            "state after the member left");
      }, "listConsumerGroupOffsets");
      try {
        member.close();
      } catch (RuntimeException alreadyClosed) {
        // closed by the check above
      }

      r.check("deleteRecords", () -> {
        long low = get(admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(p0)).lowWatermark();
        Main.expectEq(low, 4L, "low watermark");
        Main.expectEq(get(admin.listOffsets(Map.of(p0, OffsetSpec.earliest())).all()).get(p0).offset(), 4L,
            "earliest after deleteRecords");
        List<String> read = Clients.readFromStart(bootstrap, topic, 1).stream().map(c -> c.value()).toList();
        Main.expectEq(read, List.of("admin-4"), "first record readable after deleteRecords");
      }, "listOffsets");

      r.check("describeConfigs", () -> {
        Config c = get(admin.describeConfigs(List.of(res)).all()).get(res);
        ConfigEntry ret = c.get("retention.ms");
        Main.expect(ret != null, "no retention.ms");
        Main.expectEq(ret.value(), "3600000", "retention.ms");
        Main.expectEq(ret.source(), ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "retention.ms source");
        ConfigEntry policy = c.get("cleanup.policy");
        Main.expect(policy != null, "no cleanup.policy");
        Main.expectEq(policy.value(), "delete", "cleanup.policy");
        Main.expect(policy.isDefault(), "cleanup.policy not reported as a default (source %s)", policy.source());
      }, "createTopics");

      r.check("incrementalAlterConfigs", () -> {
        get(admin.incrementalAlterConfigs(Map.of(res, List.of(
            new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
            new AlterConfigOp(new ConfigEntry("max.message.bytes", "2000000"), AlterConfigOp.OpType.SET)))).all());
        Config c = get(admin.describeConfigs(List.of(res)).all()).get(res);
        Main.expectEq(c.get("retention.ms").value(), "7200000", "retention.ms after SET");
        Main.expectEq(c.get("max.message.bytes").value(), "2000000", "max.message.bytes after SET");
        get(admin.incrementalAlterConfigs(Map.of(res, List.of(
            new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE)))).all());
        c = get(admin.describeConfigs(List.of(res)).all()).get(res);
        Main.expect(c.get("retention.ms").isDefault(), "retention.ms after DELETE is %s (source %s), want the default",
            c.get("retention.ms").value(), c.get("retention.ms").source());
        Main.expectEq(c.get("max.message.bytes").value(), "2000000", "max.message.bytes after deleting retention.ms");
      }, "describeConfigs");

      // A single node: one log directory holding every partition, no leader
      // to elect, no reassignment but to the node itself.
      r.check("describeLogDirs", () -> {
        int node = get(admin.describeCluster().controller()).id();
        Map<String, LogDirDescription> dirs = get(admin.describeLogDirs(List.of(node)).allDescriptions()).get(node);
        Main.expectEq(dirs.size(), 1, "log directories");
        LogDirDescription d = dirs.values().iterator().next();
        Main.expect(d.error() == null, "log directory error %s", d.error());
        Main.expect(d.totalBytes().orElse(0L) > 0, "total bytes %s", d.totalBytes());
        ReplicaInfo p0Info = d.replicaInfos().get(p0);
        Main.expect(p0Info != null, "no replica info for %s", p0);
        Main.expect(p0Info.size() > 0, "size of %s is %d after 10 records", p0, p0Info.size());
        ReplicaInfo p1Info = d.replicaInfos().get(new TopicPartition(topic, 1));
        Main.expect(p1Info != null && p1Info.size() == 0, "size of the empty partition 1: %s", p1Info);
      }, "listOffsets");

      // Moving a replica to the directory it is in is nothing to do; to a
      // directory the broker does not have, LogDirNotFoundException.
      r.check("alterReplicaLogDirs", () -> {
        int node = get(admin.describeCluster().controller()).id();
        String dir = get(admin.describeLogDirs(List.of(node)).allDescriptions()).get(node).keySet().iterator().next();
        TopicPartitionReplica replica = new TopicPartitionReplica(topic, 0, node);
        get(admin.alterReplicaLogDirs(Map.of(replica, dir)).all());
        try {
          get(admin.alterReplicaLogDirs(Map.of(replica, dir + "-elsewhere")).all());
          throw new AssertionError("moving a replica to a directory the broker does not have succeeded, want LogDirNotFoundException");
        } catch (ExecutionException e) {
          Main.expect(e.getCause() instanceof LogDirNotFoundException, "moving %s to %s-elsewhere: %s", replica, dir, Main.describe(e.getCause()));
        }
      }, "describeLogDirs");

      r.check("electLeaders", () -> {
        Map<TopicPartition, java.util.Optional<Throwable>> res2 = get(admin.electLeaders(ElectionType.PREFERRED, Set.of(p0)).partitions());
        Throwable err = res2.get(p0).orElse(null);
        Main.expect(err instanceof ElectionNotNeededException, "electLeaders of %s: %s, want ElectionNotNeededException", p0, Main.describe(err));
      }, "createTopics");

      r.check("alterPartitionReassignments", () -> {
        int node = get(admin.describeCluster().controller()).id();
        get(admin.alterPartitionReassignments(Map.of(p0, java.util.Optional.of(new NewPartitionReassignment(List.of(node))))).all());
        try {
          get(admin.alterPartitionReassignments(Map.of(p0, java.util.Optional.of(new NewPartitionReassignment(List.of(node + 1))))).all());
          throw new AssertionError("reassigning to a node that does not exist succeeded, want InvalidReplicaAssignmentException");
        } catch (ExecutionException e) {
          Main.expect(e.getCause() instanceof InvalidReplicaAssignmentException, "reassigning to node %d: %s", node + 1, Main.describe(e.getCause()));
        }
        Main.expect(get(admin.listPartitionReassignments().reassignments()).isEmpty(), "a reassignment is listed in progress");
        TopicPartitionInfo p = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic).partitions().get(0);
        Main.expectEq(p.leader().id(), node, "leader after the reassignment");
      }, "createTopics");
    }
  }

  private Admins() {}
}
