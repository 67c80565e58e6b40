package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rewindhq/rewind/admin"
	"github.com/rewindhq/rewind/broker"
	"github.com/spf13/cobra"
)

func newRepairCmd() *cobra.Command {
	var (
		dataDir, httpAddr string
		dryRun            bool
	)
	cmd := &cobra.Command{
		Use:   "repair TOPIC PARTITION",
		Short: "Make a fenced (damaged) partition serve again by truncating it to its last valid batch",
		Long: `Repair a partition the broker fenced because its files are damaged (a bad
batch in the middle of a segment, a segment file missing or cut): the log
is truncated at the first bad batch and the segments after it removed;
missing files are accepted as lost. The report says what was dropped
(offsets, bytes) and, for __consumer_offsets, which consumer groups lost
commits. Offsets are not reused: the partition continues after the last
offset still known, so committed positions stay valid.

Online (default): the running broker's admin HTTP listener (--http) closes
the fenced partition, repairs it and serves it again; the other
partitions keep serving. Only a fenced partition is repaired online.

Offline (--data-dir): works on a stopped broker's data directory, holding
its lock (it fails if a broker runs on it).

--dry-run reports what would be dropped and changes nothing.`,
		Example: `  rewind repair orders 3                      # online, broker on 127.0.0.1:9644
  rewind repair __consumer_offsets 24 --data-dir /var/lib/rewind --dry-run`,
		Args: cobra.ExactArgs(2),
		RunE: runE(func(c *cliCtx, args []string) error {
			topic := args[0]
			p, err := strconv.ParseInt(args[1], 10, 32)
			if err != nil || p < 0 {
				return fmt.Errorf("partition %q: want a partition number", args[1])
			}
			var res broker.RepairResult
			if dataDir != "" {
				if c.cmd.Flags().Changed("http") {
					return fmt.Errorf("use either --data-dir (offline) or --http (online), not both")
				}
				res, err = broker.RepairOffline(dataDir, topic, int32(p), dryRun, nil)
				if errors.Is(err, broker.ErrDataDirInUse) {
					err = fmt.Errorf("%w; to repair the running broker's partition, repair online: without --data-dir (and REWIND_DATA_DIR), with --http", err)
				}
			} else {
				res, err = c.repairOnline(httpAddr, topic, int32(p), dryRun)
			}
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(res)
			}
			printRepair(c.out, res, dryRun)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "repair offline, in this stopped broker's data directory")
	f.StringVar(&httpAddr, "http", admin.DefaultAddr, "admin HTTP address of the running broker (online repair)")
	f.BoolVar(&dryRun, "dry-run", false, "report what would be dropped; change nothing")
	return cmd
}

// repairOnline asks the broker's admin listener to repair the partition.
func (c *cliCtx) repairOnline(addr, topic string, p int32, dryRun bool) (broker.RepairResult, error) {
	var res broker.RepairResult
	ctx, cancel := c.ctx()
	defer cancel()
	body, _ := json.Marshal(map[string]bool{"dry_run": dryRun})
	url := fmt.Sprintf("http://%s/api/v1/topics/%s/partitions/%d/repair", addr, topic, p)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, fmt.Errorf("online repair: %w (is the broker running with --http %s? for a stopped broker use --data-dir)", err, addr)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return res, err
	}
	var e struct {
		Error string `json:"error"`
	}
	if resp.StatusCode != http.StatusOK {
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return res, fmt.Errorf("online repair: %s", e.Error)
		}
		return res, fmt.Errorf("online repair: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("online repair: answer %q: %w", data, err)
	}
	return res, nil
}

func printRepair(w io.Writer, r broker.RepairResult, dryRun bool) {
	where := "offline"
	if r.Online {
		where = "online"
	}
	fmt.Fprintf(w, "%s-%d (%s, %s)\n", r.Topic, r.Partition, where, r.Dir)
	if r.OK() {
		fmt.Fprintln(w, "no damage found; nothing changed")
	} else {
		for _, p := range r.Problems {
			fmt.Fprintln(w, "damage:", p)
		}
		verb := "dropped"
		if dryRun {
			verb = "would drop"
		}
		tw := newTable(w)
		row(tw, "kept offsets below", r.KeptEnd)
		row(tw, verb+" offsets", fmt.Sprintf("[%d, %d)", r.DroppedFrom, r.DroppedTo))
		row(tw, verb+" bytes", r.DroppedBytes)
		row(tw, verb+" readable batches", fmt.Sprintf("%d (%d records)", r.DroppedBatches, r.DroppedRecords))
		if r.TruncatedFile != "" {
			row(tw, "truncated", fmt.Sprintf("%s at byte %d", r.TruncatedFile, r.TruncatedAt))
		}
		if len(r.Removed) > 0 {
			row(tw, "removed", strings.Join(r.Removed, ", "))
		}
		row(tw, "continues at offset", r.NextOffset)
		if r.Topic == broker.OffsetsTopic {
			g := strings.Join(r.GroupsLost, ", ")
			if g == "" {
				g = "none readable"
			}
			row(tw, "groups whose commits "+map[bool]string{false: "were dropped", true: "would be dropped"}[dryRun], g)
		}
		tw.Flush()
	}
	switch {
	case r.Online && r.Serving:
		fmt.Fprintln(w, "the partition serves again")
	case r.Online && r.StillFenced != "":
		fmt.Fprintln(w, "still fenced:", r.StillFenced)
	}
}
