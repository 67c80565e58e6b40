// KafkaAssign runs Apache Kafka's own server-side assignors (the
// kafka-group-coordinator jar of .ci/kafka.sh) on the groups read from
// stdin and prints their assignments, for group/assign's differential
// test (TestAssignorsAgainstKafka). Run with Java 17+:
//
//   java -cp '.cache/kafka/4.4.0/libs/*' KafkaAssign.java < cases
//
// Input, one group per block ended by "end":
//   assignor uniform|range
//   type HOMOGENEOUS|HETEROGENEOUS
//   topic <uuid> <partitions>
//   member <id> <instance or -> <uuid,uuid or -> <uuid:p,p;uuid:p or ->
// Output per group: "member <id> <uuid:p,p;...>" lines (topics and
// partitions sorted, "-" for none) then "end", or "error <message>".
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.*;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.coordinator.group.api.assignor.*;
import org.apache.kafka.coordinator.group.assignor.RangeAssignor;
import org.apache.kafka.coordinator.group.assignor.UniformAssignor;
import org.apache.kafka.coordinator.group.modern.Assignment;
import org.apache.kafka.coordinator.group.modern.GroupSpecImpl;
import org.apache.kafka.coordinator.group.modern.MemberSubscriptionAndAssignmentImpl;

public class KafkaAssign {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String assignorName = null;
        SubscriptionType type = SubscriptionType.HOMOGENEOUS;
        Map<Uuid, Integer> topics = new HashMap<>();
        Map<String, MemberSubscriptionAndAssignmentImpl> members = new TreeMap<>();
        for (String line; (line = in.readLine()) != null; ) {
            String[] f = line.trim().split(" ");
            switch (f[0]) {
                case "assignor": assignorName = f[1]; break;
                case "type": type = SubscriptionType.valueOf(f[1]); break;
                case "topic": topics.put(Uuid.fromString(f[1]), Integer.parseInt(f[2])); break;
                case "member": {
                    Set<Uuid> subs = new HashSet<>();
                    if (!f[3].equals("-")) for (String s : f[3].split(",")) subs.add(Uuid.fromString(s));
                    Map<Uuid, Set<Integer>> target = new HashMap<>(); // filled in the order listed
                    if (!f[4].equals("-")) for (String tp : f[4].split(";")) {
                        String[] kv = tp.split(":");
                        Set<Integer> ps = new HashSet<>();
                        for (String p : kv[1].split(",")) ps.add(Integer.parseInt(p));
                        target.put(Uuid.fromString(kv[0]), Collections.unmodifiableSet(ps));
                    }
                    members.put(f[1], new MemberSubscriptionAndAssignmentImpl(Optional.empty(),
                        f[2].equals("-") ? Optional.empty() : Optional.of(f[2]), subs,
                        new Assignment(Collections.unmodifiableMap(target))));
                    break;
                }
                case "end": {
                    Map<Uuid, Map<Integer, String>> inverted = new HashMap<>();
                    members.forEach((id, m) -> m.partitions().forEach((t, ps) -> {
                        for (int p : ps) inverted.computeIfAbsent(t, k -> new HashMap<>()).put(p, id);
                    }));
                    final Map<Uuid, Integer> ts = topics;
                    SubscribedTopicDescriber d = new SubscribedTopicDescriber() {
                        public int numPartitions(Uuid t) { return ts.getOrDefault(t, -1); }
                        public Set<String> racksForPartition(Uuid t, int p) { return Set.of(); }
                    };
                    ConsumerGroupPartitionAssignor a = assignorName.equals("range") ? new RangeAssignor() : new UniformAssignor();
                    try {
                        GroupAssignment out = a.assign(new GroupSpecImpl(members, type, inverted), d);
                        for (String id : members.keySet()) {
                            MemberAssignment ma = out.members().get(id);
                            TreeMap<String, TreeSet<Integer>> sorted = new TreeMap<>();
                            if (ma != null) ma.partitions().forEach((t, ps) -> { if (!ps.isEmpty()) sorted.put(t.toString(), new TreeSet<>(ps)); });
                            StringBuilder sb = new StringBuilder();
                            sorted.forEach((t, ps) -> {
                                if (sb.length() > 0) sb.append(';');
                                sb.append(t).append(':');
                                StringJoiner j = new StringJoiner(",");
                                for (int p : ps) j.add(Integer.toString(p));
                                sb.append(j);
                            });
                            System.out.println("member " + id + " " + (sb.length() == 0 ? "-" : sb));
                        }
                        System.out.println("end");
                    } catch (PartitionAssignorException e) {
                        System.out.println("error " + e.getMessage());
                    }
                    topics = new HashMap<>();
                    members = new TreeMap<>();
                    type = SubscriptionType.HOMOGENEOUS;
                    break;
                }
            }
        }
    }
}
