// Package admin is the broker's admin HTTP listener (`rewind serve --http`,
// 127.0.0.1:9644 by default): Prometheus metrics, health checks, a JSON API
// and the web console, all from the broker process.
//
//	GET  /metrics                          Prometheus text format (broker.Metrics)
//	GET  /healthz                          200 while the process serves HTTP
//	GET  /readyz                           200 once the broker listens and no log is fenced, else 503;
//	                                       on a full disk 200 "ready, read-only: why" (reads and deletions work)
//	GET  /api/v1/overview                  addresses, uptime, counts, groups by Burrow status
//	GET  /api/v1/topics[?internal=true]    topics, partitions with offsets and sizes, consuming groups
//	GET  /api/v1/topics/{topic}
//	GET  /api/v1/topics/{topic}/records    ?partition=P&offset=N|from=oldest|newest|time=T&limit=50, range end
//	                                       end_offset=N|end_time=T, filters key=, value=, header= ("k=v") substrings
//	                                       or match=regex; from=newest reads backwards; a scan is bounded (below)
//	GET  /api/v1/topics/{topic}/tail       ?partition=P&filters: server-sent events of the records appended from now;
//	                                       event ids are offsets, and a reconnection's Last-Event-ID resumes there
//	GET  /api/v1/transactions              transactions open on partitions: producer, transactional id, start offset,
//	                                       LSO, high watermark, the group offsets each holds
//	GET  /api/v1/clients                   clients pushing telemetry (KIP-714): id, software, address, last push,
//	                                       the series each last pushed (501 where the backend receives none)
//	GET  /api/v1/groups                    groups with state, members, lag, Burrow status
//	GET  /api/v1/groups/{group}            members, assignment, per-partition lag, lag in time, verdicts
//	GET  /api/v1/groups/{group}/lag        ?range=1h&points=60: lag over time per partition
//	GET  /api/v1/groups/{group}/history    the positions the group committed
//	GET  /api/v1/groups/{group}/rebalances the rebalance timeline (classic generations, consumer group epochs): joins, leaves, moves
//	GET  /api/v1/groups/{group}/explain    ?initial=newest|oldest|none&topic=T: where a consumer starts (next_fetch), and why
//	POST /api/v1/groups/{group}/reset      {"target":"to-earliest","topics":["orders"],"execute":false}
//	DELETE /api/v1/groups/{group}          an empty group and its offsets (409 NON_EMPTY_GROUP with members)
//	DELETE /api/v1/groups/{group}/offsets  ?topic=T[:p,p]: the group's offsets there (409 while members consume T)
//	POST /api/v1/topics                    {"name":"orders","partitions":3,"configs":{"retention.ms":"86400000"},"validate_only":false}; 201
//	DELETE /api/v1/topics/{topic}
//	POST /api/v1/topics/{topic}/partitions {"count":6}: the new total
//	GET  /api/v1/topics/{topic}/configs    every config with its value and whether it is the default
//	POST /api/v1/topics/{topic}/configs    {"set":{"cleanup.policy":"compact"},"delete":["retention.ms"]}
//	POST /api/v1/topics/{topic}/records    {"partition":0,"records":[{"key":"k","value":"v","headers":[{"key":"h","value":"x"}]}]}
//	                                       one batch, answered once durable; key, value, header values text or
//	                                       base64 with "key_encoding"/"value_encoding"/"encoding":"base64";
//	                                       without "partition", a Kafka client's default partitioner (murmur2
//	                                       of the key; keyless records to one random partition), a batch each
//	POST /api/v1/topics/{topic}/partitions/{partition}/repair  {"dry_run":true}: online repair of a fenced partition
//	GET  /                                 the console (embedded, see web/)
//
// Errors are JSON {"error": "..."} with a fitting status; a reset refused
// because the group has members is 409 and lists them. A change the broker
// refuses also gives the Kafka error a Kafka client gets for it:
// {"error": "POLICY_VIOLATION: ...", "kafka_error": "POLICY_VIOLATION",
// "kafka_code": 44}, with 404 for unknown topics and groups, 409 for
// conflicts (exists, has members), 413 for MESSAGE_TOO_LARGE, 503 for
// KAFKA_STORAGE_ERROR (a full disk, a fenced log) and coordinator errors,
// 401 without valid credentials, 403 for a refused ACL
// (TOPIC_/GROUP_/CLUSTER_AUTHORIZATION_FAILED), 400 otherwise. A change's body is at most 1 MiB, a produce's 8 MiB, and
// two produces are decoded at a time (a third waits up to 2 s, then 503).
//
// `rewind monitor` serves the same handlers for a remote cluster: its
// monitor.Monitor implements Broker over the wire protocol (from
// __consumer_offsets read as a consumer and a poll of the cluster), so the
// console, /api/v1 and /metrics are one code path with two backends.
//
// Inside `rewind serve` the server reaches the broker one way only, in
// process, through the Broker interface (implemented by broker.AdminAPI),
// never through a Kafka connection: requests do not queue behind one another, and a change is
// checked by the code the broker's Kafka handlers run for it, so the
// console is refused what a Kafka client is refused (--max-broker-partitions,
// a full disk, topic name and config rules, a reset while the group has
// members), with the same Kafka error, given in the answer as kafka_error
// and kafka_code. Explain and reset build offsettool's group snapshot from
// the broker and plan with offsettool's own functions (Explain, PlanReset),
// the ones `rewind group explain|reset` use, so their logic exists once.
// The transactions view comes the same way, in process
// (Broker.OpenTransactions: the partitions' producer state, the
// transaction coordinator's ids and the group coordinator's pending
// transactional offsets), not from DescribeProducers and ListTransactions
// sent to the broker's own listener, which has no request for the last.
//
// Authentication (auth.go, SecurityConfig): basic auth against bcrypt
// hashes and bearer tokens from a users file, and TLS client certificates
// over HTTPS (broker.LoadTLS, the Kafka listeners' loading and reload);
// configured, every request needs one (401 otherwise), except /metrics and
// health with MetricsOpen. Authorization (authz.go): each request is
// served with its principal's view of the Broker, which refuses a change
// (403, with the Kafka error) by the ACLs Kafka checks for the matching
// API, before calling the broker, and leaves out of what it lists what the
// principal may not DESCRIBE. Beyond loopback a listener without
// authentication is refused (ErrUnsafeBind) unless AllowUnauthenticated.
//
// API requests that the browser marks as coming from another site
// (Sec-Fetch-Site other than same-origin or none, or an Origin naming another
// host) are refused with 403, reads included, and state-changing requests
// must also carry a JSON body (Content-Type: application/json, DELETE
// included): a page of another site open in the operator's
// browser can neither reset groups nor make the broker decode records.
//
// The message browser streams records out of their batches with the
// produce path's bounded decoders: a page shows at most 16 KiB of each key,
// value and header (value_bytes gives the whole size), reads at most 64 MiB
// of records (it ends early past them; 422 if the first record alone is
// larger), and two pages are read at a time (a third waits up to 2 s, then
// gets 503 with Retry-After). A filtered page stops after 10,000 records
// examined, about 64 MiB of record data or 2 s, whichever comes first, and
// says so (stopped) with where to go on (next forwards, from backwards);
// filters see the part of each field a page shows. A live tail polls every
// 500 ms, examines at most 2,000 records and sends at most 200 per poll
// (it falls behind a faster producer rather than grow), at most 8 run at
// once (then 503), and each ends when its client goes away, the server
// closes, the topic is deleted, or after 30 minutes.
package admin
