package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/rewindhq/rewind/offsettool/txntest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactionsCLIErrors: every bad invocation is refused with a one
// line error that says what to give, before any broker is asked.
func TestTransactionsCLIErrors(t *testing.T) {
	const nowhere = "127.0.0.1:1"
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"transactions", "abort", "--partition", "0"}, []string{"--topic T --partition P"}},
		{[]string{"transactions", "abort", "--topic", "orders"}, []string{"--partition P"}},
		{[]string{"transactions", "abort", "--topic", "orders", "--partition", "0"}, []string{"--start-offset", "--producer-id, --producer-epoch and --coordinator-epoch", "find-hanging --topic orders"}},
		{[]string{"transactions", "abort", "--topic", "orders", "--partition", "0", "--start-offset", "4", "--producer-id", "7"}, []string{"not both"}},
		{[]string{"transactions", "abort", "--topic", "orders", "--partition", "0", "--producer-id", "7"}, []string{"missing --producer-epoch"}},
		{[]string{"transactions", "abort", "--topic", "orders", "--partition", "0", "--producer-id", "7", "--producer-epoch", "0"}, []string{"missing --coordinator-epoch"}},
		{[]string{"transactions", "abort", "--topic", "orders", "--partition", "0", "--start-offset", "-3"}, []string{"--start-offset -3", "negative"}},
		{[]string{"transactions", "find-hanging"}, []string{"--topic or --broker-id"}},
		{[]string{"transactions", "find-hanging", "--partition", "1"}, []string{"--partition needs exactly one --topic"}},
		{[]string{"transactions", "find-hanging", "--topic", "a", "--topic", "b", "--partition", "1"}, []string{"--partition needs exactly one --topic"}},
		{[]string{"transactions", "find-hanging", "--topic", "a", "--max-transaction-timeout", "soon"}, []string{"--max-transaction-timeout \"soon\"", "15m", "minutes"}},
		{[]string{"transactions", "list", "--state", "Running"}, []string{"--state", "\"Running\"", "Ongoing", "CompleteAbort"}},
		{[]string{"transactions", "list", "--duration-filter", "long"}, []string{"--duration-filter \"long\"", "milliseconds"}},
		{[]string{"transactions", "describe"}, []string{"name the transactional id", "rewind transactions list"}},
		{[]string{"transactions", "describe-producers"}, []string{"--topic T"}},
		{[]string{"transactions", "list"}, []string{"no broker reachable", nowhere}},
	} {
		cliFail(t, nowhere, tc.args, tc.want...)
	}
}

// TestTransactionsCLIKafka runs every transactions command against Apache
// Kafka 4.4 with a real franz-go transaction left open and a hanging one.
func TestTransactionsCLIKafka(t *testing.T) {
	addr := kafkaref.Start(t).Addrs()[0]
	txntest.DisableVerification(t, addr)
	sfx := fmt.Sprintf("%x", time.Now().UnixNano())
	topic, openID, hangID := "cli-txn-"+sfx, "cli-open-"+sfx, "cli-hang-"+sfx
	cli(t, addr, "topic", "create", topic, "--partitions", "2")
	open := txntest.Txn(t, addr, openID, topic, 0, 2, txntest.Open, "", nil)
	pid, _, off := txntest.Hanging(t, addr, hangID, topic, 1, 3)

	out := cli(t, addr, "transactions", "list", "--state", "Ongoing")
	wantFields(t, tableRow(t, out, "TRANSACTIONAL-ID"), "TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "STATE")
	wantFields(t, tableRow(t, out, openID), openID, "1", fmt.Sprint(open.ProducerID), "Ongoing")
	if strings.Contains(out, hangID) {
		t.Errorf("--state Ongoing lists the Empty %s:\n%s", hangID, out)
	}
	var listed []offsettool.ListedTxn
	cliJSON(t, addr, &listed, "transactions", "list", "--pattern", "^cli-.*-"+sfx+"$")
	if len(listed) != 2 || listed[0].TransactionalID != hangID || listed[0].State != "Empty" || listed[1].TransactionalID != openID {
		t.Errorf("list --pattern --output json: %+v", listed)
	}

	out = cli(t, addr, "transactions", "describe", openID)
	wantFields(t, tableRow(t, out, openID), openID, "1", fmt.Sprint(open.ProducerID), fmt.Sprint(open.Epoch), "Ongoing", "1m0s")
	if !strings.Contains(out, topic+"-0") {
		t.Errorf("describe lacks the partition %s-0:\n%s", topic, out)
	}
	var d offsettool.TxnDescription
	cliJSON(t, addr, &d, "transactions", "describe", "--transactional-id", openID)
	if d.State != "Ongoing" || d.DurationMillis == nil || len(d.Partitions) != 1 {
		t.Errorf("describe --output json: %+v", d)
	}
	cliFail(t, addr, []string{"transactions", "describe", "none-" + sfx}, "unknown transactional id", "none-"+sfx)

	out = cli(t, addr, "transactions", "describe-producers", "--topic", topic)
	wantFields(t, tableRow(t, out, topic, "1"), topic, "1", fmt.Sprint(pid), "*", "-1", "2", "*", fmt.Sprint(off))

	out = cli(t, addr, "transactions", "find-hanging", "--topic", topic, "--max-transaction-timeout", "0")
	wantFields(t, tableRow(t, out, topic), topic, "1", fmt.Sprint(pid), "*", "-1", fmt.Sprint(off))
	hint := fmt.Sprintf("rewind transactions abort --topic %s --partition 1 --start-offset %d", topic, off)
	if !strings.Contains(out, hint) || !strings.Contains(out, hangID) || strings.Contains(out, openID) {
		t.Errorf("find-hanging output:\n%s", out)
	}
	out = cli(t, addr, "transactions", "find-hanging", "--topic", topic, "--partition", "1")
	if !strings.Contains(out, "no hanging transactions (open longer than 15m0s") {
		t.Errorf("find-hanging with the default 15 minutes:\n%s", out)
	}

	cliFail(t, addr, []string{"transactions", "abort", "--topic", topic, "--partition", "1", "--start-offset", fmt.Sprint(off + 1)},
		"no open transaction starts at offset", fmt.Sprintf("start at offset(s) %d", off))
	cliFail(t, addr, []string{"transactions", "abort", "--topic", "missing-" + sfx, "--partition", "0", "--start-offset", "0"}, "unknown topic")
	out = cli(t, addr, strings.Fields(hint)[1:]...)
	if !strings.Contains(out, fmt.Sprintf("aborted the transaction of producer %d (epoch 0) started at offset %d on %s/1", pid, off, topic)) {
		t.Errorf("abort output: %s", out)
	}
	var hs []offsettool.HangingTxn
	cliJSON(t, addr, &hs, "transactions", "find-hanging", "--topic", topic, "--max-transaction-timeout", "0")
	if len(hs) != 0 {
		t.Errorf("find-hanging after abort: %+v", hs)
	}
}

// TestGroupLastStableCLIKafka: describe, lag and explain show the last
// stable offset beside the log end when an open transaction holds it
// back, and explain says why the lag cannot reach 0.
func TestGroupLastStableCLIKafka(t *testing.T) {
	addr := kafkaref.Start(t).Addrs()[0]
	sfx := fmt.Sprintf("%x", time.Now().UnixNano())
	topic, group, openID := "cli-lso-"+sfx, "cli-etl-"+sfx, "cli-lso-open-"+sfx
	cli(t, addr, "topic", "create", topic, "--partitions", "2")
	txntest.Txn(t, addr, "cli-lso-commit-"+sfx, topic, 0, 3, txntest.Commit, "", nil)
	open := txntest.Txn(t, addr, openID, topic, 1, 2, txntest.Open, "", nil)
	commitOffsets(t, addr, group, topic, 3, 0)

	out := cli(t, addr, "group", "describe", group)
	wantFields(t, tableRow(t, out, "TOPIC", "PARTITION"), "TOPIC", "PARTITION", "COMMITTED", "LOG-START", "LOG-END", "LSO", "LAG", "LSO-LAG")
	wantFields(t, tableRow(t, out, topic, "0"), topic, "0", "3", "0", "4", "4", "1", "1")
	wantFields(t, tableRow(t, out, topic, "1"), topic, "1", "0", "0", "2", "0", "2", "0")
	var d describedGroup
	cliJSON(t, addr, &d, "group", "describe", group)
	if p := d.Partitions[1]; p.LastStable != 0 || p.LogEnd != 2 || *p.Lag != 2 || *p.StableLag != 0 {
		t.Errorf("describe --output json partition 1: %+v", p)
	}

	out = cli(t, addr, "lag", "--group", group)
	wantFields(t, tableRow(t, out, "GROUP"), "GROUP", "TOPIC", "STATE", "MEMBERS", "PARTITIONS", "UNCOMMITTED", "LAG", "LSO-LAG")
	wantFields(t, tableRow(t, out, group), group, topic, "Empty", "0", "2", "0", "3", "1")

	out = cli(t, addr, "group", "explain", group)
	wantFields(t, tableRow(t, out, topic, "1"), topic, "1", "0", "0", "2", "0")
	for _, w := range []string{
		"The lag of 1 never reaches 0, and that is expected: offsets 3-3 hold only 1 control record(s)",
		fmt.Sprintf(`because producer %d (epoch %d, transactional id %q) has had a transaction open there since offset 0`, open.ProducerID, open.Epoch, openID),
		"Its coordinator has it Ongoing with a timeout of 1m",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("explain lacks %q:\n%s", w, out)
		}
	}
	// Without transactions the columns stay as they were.
	plain := "cli-plain-" + sfx
	seedTopic(t, addr, plain, 1, 3)
	commitOffsets(t, addr, "plain-"+sfx, plain, 1)
	out = cli(t, addr, "group", "describe", "plain-"+sfx)
	if strings.Contains(out, "LSO") {
		t.Errorf("describe without transactions shows LSO:\n%s", out)
	}
}

// TestGroupHistoryTransactionsCLIKafka: group history marks the commits
// made inside transactions with their producer and outcome.
func TestGroupHistoryTransactionsCLIKafka(t *testing.T) {
	addr := kafkaref.Start(t).Addrs()[0]
	sfx := fmt.Sprintf("%x", time.Now().UnixNano())
	topic, group := "cli-hist-"+sfx, "cli-hist-etl-"+sfx
	cli(t, addr, "topic", "create", topic)
	commitOffsets(t, addr, group, topic, 2)
	p1 := txntest.Txn(t, addr, "cli-hist-c-"+sfx, topic, 0, 1, txntest.Commit, group, map[int32]int64{0: 5})
	p2 := txntest.Txn(t, addr, "cli-hist-a-"+sfx, topic, 0, 1, txntest.Abort, group, map[int32]int64{0: 8})
	p3 := txntest.Txn(t, addr, "cli-hist-o-"+sfx, topic, 0, 1, txntest.Open, group, map[int32]int64{0: 9})

	out := cli(t, addr, "group", "history", group)
	for _, w := range []struct{ offset, delta, detail string }{
		{"5", "+3", fmt.Sprintf("transaction committed (producer %d)", p1.ProducerID)},
		// The aborted commit never moved the group: deltas count from 5.
		{"8", "+3", fmt.Sprintf("transaction aborted (producer %d): never took effect", p2.ProducerID)},
		{"9", "+4", fmt.Sprintf("transaction open (producer %d): takes effect when it commits", p3.ProducerID)},
	} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 5 && f[1] == "commit" && f[4] == w.offset {
				found = true
				if f[5] != w.delta || !strings.Contains(line, w.detail) {
					t.Errorf("history row %q, want delta %s and %q", line, w.delta, w.detail)
				}
			}
		}
		if !found {
			t.Errorf("history has no commit of %s:\n%s", w.offset, out)
		}
	}
	var rows []historyRow
	cliJSON(t, addr, &rows, "group", "history", group)
	var txns []string
	for _, r := range rows {
		if r.Kind == offsettool.EventCommit {
			txns = append(txns, fmt.Sprintf("%d:%s", r.Offset, r.Transaction))
		}
	}
	if got := strings.Join(txns, " "); got != "2: 5:committed 8:aborted 9:pending" {
		t.Errorf("history --output json transactions: %s", got)
	}
}

// TestTransactionsCLIRewind runs the transactions commands and explain
// against Rewind with a real franz-go transaction left open, once Rewind
// serves the transaction APIs (until then it skips, saying which is
// missing).
func TestTransactionsCLIRewind(t *testing.T) {
	addr := rewindtest.Start(t).Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := adminFor(t, addr)
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		for _, k := range []int16{24, 27, 61, 65, 66} {
			if _, ok := v.KeyMaxVersion(k); !ok {
				t.Skipf("Rewind does not serve %s yet", kmsg.NameForKey(k))
			}
		}
	}
	cli(t, addr, "topic", "create", "orders")
	open := txntest.Txn(t, addr, "etl-1", "orders", 0, 3, txntest.Open, "", nil)
	commitOffsets(t, addr, "etl", "orders", 0)

	wantFields(t, tableRow(t, cli(t, addr, "transactions", "list"), "etl-1"), "etl-1", "0", fmt.Sprint(open.ProducerID), "Ongoing")
	out := cli(t, addr, "transactions", "describe", "etl-1")
	wantFields(t, tableRow(t, out, "etl-1"), "etl-1", "0", fmt.Sprint(open.ProducerID), fmt.Sprint(open.Epoch), "Ongoing", "1m0s")
	wantFields(t, tableRow(t, cli(t, addr, "transactions", "describe-producers", "--topic", "orders"), "orders", "0"),
		"orders", "0", fmt.Sprint(open.ProducerID), fmt.Sprint(open.Epoch), "*", "2", "*", "0")
	if out := cli(t, addr, "transactions", "find-hanging", "--topic", "orders", "--max-transaction-timeout", "0"); !strings.Contains(out, "no hanging transactions") {
		t.Errorf("find-hanging lists a transaction its coordinator holds:\n%s", out)
	}
	out = cli(t, addr, "group", "explain", "etl")
	if !strings.Contains(out, fmt.Sprintf(`transactional id "etl-1") has had a transaction open there since offset 0`)) {
		t.Errorf("explain does not name the open transaction:\n%s", out)
	}
	out = cli(t, addr, "transactions", "abort", "--topic", "orders", "--partition", "0", "--start-offset", "0")
	if !strings.Contains(out, fmt.Sprintf("aborted the transaction of producer %d", open.ProducerID)) {
		t.Errorf("abort: %s", out)
	}
	if out := cli(t, addr, "group", "describe", "etl"); strings.Contains(out, "LSO") {
		t.Errorf("describe after the abort still shows an LSO below the log end:\n%s", out)
	}
}
