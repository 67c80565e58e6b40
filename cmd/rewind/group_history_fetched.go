package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/rewindhq/rewind/offsettool"
)

// fetchedRedo fills the moves' FetchedEnd and RedoFetched from a Rewind
// broker's admin listener at addr, whose own timeline of the group
// (GET /api/v1/groups/{group}/rebalances) has them: the broker saw what
// each previous owner's client fetched. A move is matched by its
// generation or epoch, partition and members.
func (c *cliCtx) fetchedRedo(addr, group string, rbs []offsettool.Rebalance) error {
	ctx, cancel := c.ctx()
	defer cancel()
	u := fmt.Sprintf("http://%s/api/v1/groups/%s/rebalances", addr, url.PathEscape(group))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetched records past the commit: %w (is the broker running with --http %s?)", err, addr)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetched records past the commit: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	var tl struct {
		Rebalances []offsettool.Rebalance `json:"rebalances"`
	}
	if err := json.Unmarshal(data, &tl); err != nil {
		return fmt.Errorf("fetched records past the commit: answer: %w", err)
	}
	type moveKey struct {
		typ       string
		epoch     int32
		topic     string
		partition int32
		from, to  string
	}
	got := map[moveKey]offsettool.PartitionMove{}
	for _, r := range tl.Rebalances {
		for _, mv := range r.Moved {
			got[moveKey{r.Type, r.Epoch, mv.Topic, mv.Partition, mv.From, mv.To}] = mv
		}
	}
	for i := range rbs {
		r := &rbs[i]
		for j := range r.Moved {
			mv := &r.Moved[j]
			if a, ok := got[moveKey{r.Type, r.Epoch, mv.Topic, mv.Partition, mv.From, mv.To}]; ok {
				mv.FetchedEnd, mv.RedoFetched, mv.RedoFetchedNote = a.FetchedEnd, a.RedoFetched, a.RedoFetchedNote
			} else if mv.From != "" {
				mv.RedoFetchedNote = "unknown: the broker's admin listener does not show this move"
			}
		}
	}
	return nil
}
