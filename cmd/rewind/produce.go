package main

import (
	"errors"
	"fmt"

	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newProduceCmd() *cobra.Command {
	var (
		sep       string
		headers   []string
		partition int32
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce one record per line of standard input",
		Long: `Produce one record per line of standard input with acks=all and an
idempotent producer (franz-go's defaults, and the Java client's since
Kafka 3.0; Sarama defaults to acks=1, WaitForLocal, without idempotence,
and librdkafka to no idempotence), and wait until every record is
acknowledged.`,
		Example: `  printf 'k1:hello\nk2:world\n' | rewind produce orders --key-separator :
  rewind produce orders -H source=cli -H trace=abc < lines.txt`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			var hs []kgo.RecordHeader
			for _, h := range headers {
				rh, err := offsettool.ParseHeader(h)
				if err != nil {
					return err
				}
				hs = append(hs, rh)
			}
			c.need("Write", "TOPIC", args[0])
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			res, err := cl.ProduceLines(ctx, c.cmd.InOrStdin(), offsettool.ProduceOptions{
				Topic: args[0], KeySeparator: sep, Headers: hs, Partition: partition,
			})
			if errors.Is(err, offsettool.ErrUnknownTopic) && res.Records == 0 && partition < 0 {
				return fmt.Errorf("%w; create it first: rewind topic create %s --partitions 3 (or add --config retention.ms=…)", err, args[0])
			}
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(res)
			}
			fmt.Fprintf(c.out, "produced %d record(s) to %s\n", res.Records, res.Topic)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&sep, "key-separator", "k", "", "split each line into key and value at the first occurrence of this string")
	f.StringArrayVarP(&headers, "header", "H", nil, "record header key=value (repeatable)")
	f.Int32VarP(&partition, "partition", "p", -1, "send every record to this partition (-1: hash the key, or spread records without keys)")
	return cmd
}
