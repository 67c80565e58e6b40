package browser_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rewindhq/rewind/internal/scenario"
	"github.com/rewindhq/rewind/offsettool/txntest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsoleOpenTransactions opens the console's Transactions view while
// a franz-go transaction is open on orders/0: the row names the partition,
// the producer, its transactional id and state, how far it holds the last
// stable offset below the high watermark and the group offset it holds;
// once the transaction aborts the view says none is open.
func TestConsoleOpenTransactions(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	requireTxns(t, e)
	scenario.CreateTopic(t, e.b.Addr(), "orders", 2)
	// With TxnOffsetCommit served, the transaction also holds an offset
	// of group etl, which the row shows.
	var offsets map[int32]int64
	withOffsets := serves(t, e, 25, 28)
	if withOffsets {
		offsets = map[int32]int64{0: 42}
	}
	open := txntest.Txn(t, e.b.Addr(), "etl-7", "orders", 0, 3, txntest.Open, "etl", offsets)
	dir := screenshotDir(t)
	row := fmt.Sprintf(`#txn-table tr[data-key="orders/0/%d"]`, open.ProducerID)

	run(t, ctx, "transactions",
		chromedp.Navigate(e.base+"/"),
		chromedp.WaitVisible(css(`#nav a[data-nav="transactions"]`)),
		chromedp.Click(css(`#nav a[data-nav="transactions"]`)),
		chromedp.WaitVisible(css(row)),
		waitJS(fmt.Sprintf(`document.querySelector(%q).textContent.includes("3 offset(s)")`, row)),
		waitJS(`document.querySelector('#nav a[data-nav="transactions"]').classList.contains("active")`),
		shot(dir, "transactions.png"))
	cells := eval(t, ctx, fmt.Sprintf(`[...document.querySelectorAll(%q + " td")].map((td) => td.textContent).join("|")`, row))
	want := fmt.Sprintf("orders/0|id %d · epoch %d|etl-7 Ongoing|", open.ProducerID, open.Epoch)
	if len(cells) < len(want) || cells[:len(want)] != want {
		t.Errorf("row cells %q, want them to start %q", cells, want)
	}
	// Starts at, LSO, high watermark, holds back.
	if n := eval(t, ctx, fmt.Sprintf(`[...document.querySelectorAll(%q + " td.num")].map((td) => td.textContent).join("|")`, row)); n != "0|0|3|3 offset(s)" {
		t.Errorf("number cells %q, want 0|0|3|3 offset(s)", n)
	}

	if withOffsets {
		if chip := eval(t, ctx, fmt.Sprintf(`document.querySelector(%q + " a.chip").textContent`, row)); chip != "etl · orders/0 → 42" {
			t.Errorf("group offset chip %q, want etl · orders/0 → 42", chip)
		}
	} else if none := eval(t, ctx, fmt.Sprintf(`document.querySelector(%q + " td:last-child").textContent`, row)); none != "none" {
		t.Errorf("group offsets cell %q, want none", none)
	}

	// The group's explain says why its lag cannot reach 0.
	scenario.CommitNow(t, e.b.Addr(), "etl-readers", "orders", map[int32]int64{0: 0})
	run(t, ctx, "explain",
		chromedp.Navigate(e.base+"/#/groups/etl-readers/explain"),
		chromedp.WaitVisible(css(`#explain-table .lag-why[data-case="open-transaction"]`)),
		waitJS(fmt.Sprintf(`document.querySelector('#explain-table .lag-why').textContent.includes("producer %d (epoch %d) has had a transaction open there since offset 0")`, open.ProducerID, open.Epoch)),
		shot(dir, "explain-open-transaction.png"))

	// The partition link leads to its records.
	run(t, ctx, "back", chromedp.Navigate(e.base+"/#/transactions"), chromedp.WaitVisible(css(row)))
	run(t, ctx, "partition link",
		chromedp.Click(css(row+" a")),
		waitJS(`location.hash === "#/topics/orders/0"`))

	// Aborted, the transaction is gone from the view.
	actx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := open.Client.EndTransaction(actx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "after abort",
		chromedp.Navigate(e.base+"/#/transactions"),
		waitJS(`document.querySelector("#txn-table td.empty") && document.querySelector("#txn-table td.empty").textContent.includes("No transaction is open")`))
}

// requireTxns skips until the broker has a transaction coordinator that
// writes markers (AddPartitionsToTxn and WriteTxnMarkers served).
func requireTxns(t *testing.T, e *env) {
	t.Helper()
	if !serves(t, e, 24, 27) {
		t.Skip("the broker does not serve AddPartitionsToTxn and WriteTxnMarkers yet: no transaction can be open")
	}
}

// serves reports whether the broker serves every API key.
func serves(t *testing.T, e *env, keys ...int16) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vs, err := kadm.NewClient(cl).ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		for _, k := range keys {
			if _, ok := v.KeyMaxVersion(k); !ok {
				return false
			}
		}
	}
	return true
}
