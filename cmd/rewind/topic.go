package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newTopicCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, delete topics and add partitions",
	}
	cmd.AddCommand(newTopicCreateCmd(), newTopicListCmd(), newTopicDescribeCmd(), newTopicDeleteCmd(), newTopicAddPartitionsCmd())
	return cmd
}

func newTopicCreateCmd() *cobra.Command {
	var (
		partitions int32
		rf         int16
		configs    []string
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Example: `  rewind topic create orders --partitions 6
  rewind topic create audit -c retention.ms=86400000 -c cleanup.policy=delete`,
		Args: cobra.MinimumNArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			cfg := map[string]string{}
			for _, kv := range configs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--config %q: use name=value, e.g. retention.ms=86400000", kv)
				}
				cfg[k] = v
			}
			c.need("Create", "TOPIC", args...)
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			type created struct {
				Topic      string `json:"topic"`
				Partitions int32  `json:"partitions"`
			}
			var done []created
			for _, t := range args {
				if err := cl.CreateTopic(ctx, t, partitions, rf, cfg); err != nil {
					return err
				}
				done = append(done, created{t, partitions})
			}
			if c.json {
				return c.writeJSON(done)
			}
			for _, d := range done {
				fmt.Fprintf(c.out, "created topic %s with %d partition(s)\n", d.Topic, d.Partitions)
			}
			return nil
		}),
	}
	cmd.Flags().Int32VarP(&partitions, "partitions", "p", 1, "number of partitions")
	cmd.Flags().Int16VarP(&rf, "replication-factor", "r", -1, "replicas per partition (-1: the broker's default)")
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config name=value (repeatable), e.g. retention.ms=86400000")
	return cmd
}

func newTopicListCmd() *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Args:    cobra.NoArgs,
		RunE: runE(func(c *cliCtx, _ []string) error {
			c.need("Describe", "TOPIC", "*")
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			ts, err := cl.ListTopics(ctx, internal)
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(ts)
			}
			w := newTable(c.out)
			row(w, "TOPIC", "PARTITIONS", "REPLICAS")
			for _, t := range ts {
				name := t.Name
				if t.Internal {
					name += " (internal)"
				}
				row(w, name, t.Partitions, t.Replicas)
			}
			return w.Flush()
		}),
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics such as __consumer_offsets")
	return cmd
}

func newTopicDescribeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "describe TOPIC",
		Short: "Show a topic's partitions (log start, log end, records) and its configs",
		Args:  cobra.ExactArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			c.need("Describe", "TOPIC", args[0])
			c.need("DescribeConfigs", "TOPIC", args[0])
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			d, err := cl.DescribeTopic(ctx, args[0])
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(d)
			}
			w := newTable(c.out)
			row(w, "TOPIC", "PARTITIONS", "REPLICAS", "ID")
			id := d.ID
			if id == "" {
				id = "-"
			}
			row(w, d.Name, d.Partitions, d.Replicas, id)
			row(w)
			row(w, "PARTITION", "LEADER", "REPLICAS", "LOG-START", "LOG-END", "RECORDS")
			for _, p := range d.PartitionList {
				row(w, p.Partition, p.Leader, fmt.Sprint(p.Replicas), p.LogStart, p.LogEnd, p.Records)
			}
			if len(d.Configs) > 0 {
				row(w)
				row(w, "CONFIG", "VALUE")
				for _, cfg := range d.Configs {
					row(w, cfg.Name, cfg.Value)
				}
			}
			return w.Flush()
		}),
	}
}

func newTopicDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete TOPIC...",
		Short: "Delete topics and their data",
		Args:  cobra.MinimumNArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			c.need("Delete", "TOPIC", args...)
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			for _, t := range args {
				if err := cl.DeleteTopic(ctx, t); err != nil {
					return err
				}
			}
			if c.json {
				return c.writeJSON(map[string]any{"deleted": args})
			}
			for _, t := range args {
				fmt.Fprintf(c.out, "deleted topic %s\n", t)
			}
			return nil
		}),
	}
}

func newTopicAddPartitionsCmd() *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "add-partitions TOPIC --num N",
		Short: "Add N partitions to a topic (keys then hash to different partitions)",
		Args:  cobra.ExactArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			c.need("Alter", "TOPIC", args[0])
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			total, err := cl.AddPartitions(ctx, args[0], n)
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(map[string]any{"topic": args[0], "added": n, "partitions": total})
			}
			fmt.Fprintf(c.out, "added %d partition(s) to %s: it now has %d\n", n, args[0], total)
			return nil
		}),
	}
	cmd.Flags().IntVarP(&n, "num", "n", 0, "partitions to add")
	return cmd
}
