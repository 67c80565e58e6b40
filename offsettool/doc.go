// Package offsettool is the client side of Rewind: it inspects and steers
// consumer groups against any Kafka-compatible cluster (Rewind, Apache Kafka,
// Redpanda, the franz-go kfake cluster) using only the wire protocol, through
// franz-go's kgo and kadm. It never imports broker internals.
//
// It owns five things:
//
//   - snapshots: Client.Snapshot gathers, for one group, its type (classic,
//     or consumer for Kafka 4's KIP-848 protocol: DescribeGroups, then
//     ConsumerGroupDescribe for a group it calls not classic), state and
//     members (for a consumer group also the group and target assignment
//     epochs, the assignor, each member's epoch, target assignment and the
//     partitions it still revokes or awaits), and per partition the
//     committed offset, log start and log end (and optionally the age of
//     the first unconsumed record);
//   - explain: Explain is a pure function over a snapshot that says, for
//     every partition, where a consumer of the group would start and why, in
//     the words a Sarama or franz-go user needs (committed offset wins,
//     OffsetNewest skips existing records, retention moved the log start…);
//   - reset plans: PlanReset turns a target (--to-earliest, --shift-by, …)
//     into a per-partition plan, refusing targets outside the log;
//     Client.ExecuteReset commits it, only while the group is Empty (as
//     kafka-consumer-groups.sh, for both group types);
//   - history: Client.History reads the group's commits from the
//     __consumer_offsets topic (Kafka's own record format) so a group can be
//     rewound to where it stood at a past time (CommittedAt); commits made
//     inside a transaction carry their producer and the outcome their
//     marker gave (committed, aborted, pending), and only committed ones
//     count;
//   - transactions: ListTransactions, DescribeTransactions,
//     DescribeProducers, FindHanging and AbortTransaction do what Kafka's
//     kafka-transactions.sh does, with the same requests; a snapshot
//     carries each partition's last stable offset, and with
//     SnapshotOptions.Transactions the open transactions and unreadable
//     tails (markers, aborted records) Explain names when a lag cannot
//     reach 0.
//
// Besides: PastMembership reads, for a group that consumed but never
// committed, the generations and subscriptions __consumer_offsets kept
// (NeverCommittedNote says it); LossForecasts forecasts per partition when
// retention deletes unread records (lageval.TimeToLoss); FormatRecord and
// ToKcatJSON print records as kcat's -f and -J do; ExportCSV writes the
// reset plan kafka-consumer-groups.sh --export writes. LoadClientConfig
// reads a Kafka client properties file (Kafka tools' --command-config:
// security.protocol, sasl.mechanism, sasl.jaas.config, PEM truststores and
// keystores, OAUTHBEARER with unsecured tokens or a token file) into a
// ClientConfig whose Opts connect and authenticate, passed to Dial as
// extra options; a refused authentication is ErrAuthentication.
//
// The pure parts (Explain, PlanReset, CommittedAt, LagRows, Trend,
// FormatRecord, ParseResetCSV, ExportCSV, ParseDuration) take plain
// structs and are unit tested case by case; the rest is tested end to end
// against Rewind and kfake.
//
// Typical use:
//
//	c, err := offsettool.Dial(ctx, []string{"127.0.0.1:9092"})
//	if err != nil { ... }
//	defer c.Close()
//	snap, err := c.Snapshot(ctx, "orders-service", nil)
//	ex := offsettool.Explain(snap, offsettool.Newest)
package offsettool
