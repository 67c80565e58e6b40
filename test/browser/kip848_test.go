package browser_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/rewindhq/rewind/internal/scenario"
	"github.com/rewindhq/rewind/offsettool/grouptest"
)

// TestConsoleConsumerGroup opens the console on a consumer group (KIP-848)
// whose new member waits for partitions their owner has not revoked: the
// list says consumer with its epoch, the members tab shows each member's
// epoch, target and what it revokes or awaits, and the Rebalances tab
// draws the timeline, with the newcomer joining.
func TestConsoleConsumerGroup(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	scenario.CreateTopic(t, e.b.Addr(), "orders", 4)
	r := grouptest.HoldRevocation(t, e.b.Addr(), "cg", "orders", 4)
	dir := screenshotDir(t)

	run(t, ctx, "groups list",
		chromedp.Navigate(e.base+"/#/groups"),
		chromedp.WaitVisible(css(`#groups-table tr[data-key="cg"]`)),
		waitJS(`document.querySelector('#groups-table tr[data-key="cg"]').textContent.includes("consumer · epoch")`))

	run(t, ctx, "members",
		chromedp.Navigate(e.base+"/#/groups/cg/members"),
		waitJS(`document.querySelector('#members-table') && document.querySelector('#members-table').textContent.includes("Awaiting")`),
		waitJS(`document.querySelector('.pagehead').textContent.includes("consumer group (KIP-848)")`),
		waitJS(`document.querySelector('#members-table').textContent.includes("`+r.Newcomer+`")`),
		shot(dir, "consumer-group-members.png"))

	run(t, ctx, "rebalances",
		chromedp.Navigate(e.base+"/#/groups/cg/rebalances"),
		waitJS(`document.querySelector('.rebalance') && document.querySelector('.rebalance h2').textContent.includes("Group epoch")`),
		waitJS(`[...document.querySelectorAll('#rebalance-members')].some((t) => t.textContent.includes("joined") && t.textContent.includes("`+r.Newcomer+`"))`),
		waitJS(`[...document.querySelectorAll('#rebalance-moves')].some((t) => t.textContent.includes("orders/0"))`),
		shot(dir, "consumer-group-rebalances.png"))
}
