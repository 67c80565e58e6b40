package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newQuotaCmd sets, deletes and lists client quotas with
// AlterClientQuotas and DescribeClientQuotas, as kafka-configs.sh
// --entity-type users|clients|ips does, against Rewind or any Kafka.
func newQuotaCmd() *cobra.Command {
	var e quotaEntityFlags
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Set, delete and list client quotas (as kafka-configs.sh --entity-type users|clients|ips)",
		Long: `Client quotas through AlterClientQuotas and DescribeClientQuotas. An entity
is a user, a client id, a user and a client id, or an ip, each a name or
the default (--user-default, --client-default, --ip-default). Keys:
producer_byte_rate, consumer_byte_rate, request_percentage,
controller_mutation_rate (users and client ids), connection_creation_rate
(ips). The principal needs ALTER_CONFIGS on the cluster to set and delete,
DESCRIBE_CONFIGS to list.

  rewind quota set --user alice producer_byte_rate=1048576 consumer_byte_rate=2097152
  rewind quota set --client-default request_percentage=50
  rewind quota delete --user alice --client-id app producer_byte_rate
  rewind quota list
  rewind quota list --user alice`,
	}
	set := &cobra.Command{
		Use:   "set KEY=VALUE...",
		Short: "Set quotas of one entity",
		Args:  cobra.MinimumNArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			var ops []kadm.AlterClientQuotaOp
			for _, a := range args {
				k, v, ok := strings.Cut(a, "=")
				f, err := strconv.ParseFloat(v, 64)
				if !ok || err != nil {
					return fmt.Errorf("%q: want KEY=NUMBER", a)
				}
				ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Value: f})
			}
			return alterQuotas(c, e, ops)
		}),
	}
	del := &cobra.Command{
		Use:   "delete KEY...",
		Short: "Delete quotas of one entity",
		Args:  cobra.MinimumNArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			var ops []kadm.AlterClientQuotaOp
			for _, k := range args {
				ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
			}
			return alterQuotas(c, e, ops)
		}),
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List quotas (all, or those of the entities the flags name)",
		Args:    cobra.NoArgs,
		RunE: runE(func(c *cliCtx, _ []string) error {
			c.need("DescribeConfigs", "CLUSTER")
			var comps []kadm.DescribeClientQuotaComponent
			for _, p := range e.parts() {
				d := kadm.DescribeClientQuotaComponent{Type: p.Type, MatchName: p.Name, MatchType: kmsg.QuotasMatchTypeExact}
				if p.Name == nil {
					d.MatchType = kmsg.QuotasMatchTypeDefault
				}
				comps = append(comps, d)
			}
			ctx, cl, done, err := c.connect()
			if err != nil {
				return err
			}
			defer done()
			qs, err := cl.Admin().DescribeClientQuotas(ctx, false, comps)
			if err != nil {
				return err
			}
			type quotaRow struct {
				Entity string             `json:"entity"`
				Values map[string]float64 `json:"values"`
			}
			var rows []quotaRow
			for _, q := range qs {
				r := quotaRow{Entity: entityString(q.Entity), Values: map[string]float64{}}
				for _, v := range q.Values {
					r.Values[v.Key] = v.Value
				}
				rows = append(rows, r)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Entity < rows[j].Entity })
			if c.json {
				return c.writeJSON(rows)
			}
			w := newTable(c.out)
			row(w, "ENTITY", "KEY", "VALUE")
			for _, r := range rows {
				keys := make([]string, 0, len(r.Values))
				for k := range r.Values {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					row(w, r.Entity, k, strconv.FormatFloat(r.Values[k], 'f', -1, 64))
				}
			}
			return w.Flush()
		}),
	}
	for _, sub := range []*cobra.Command{set, del, list} {
		f := sub.Flags()
		f.StringVar(&e.user, "user", "", "the user (principal name, e.g. alice or ANONYMOUS)")
		f.BoolVar(&e.userDefault, "user-default", false, "the default user")
		f.StringVar(&e.client, "client-id", "", "the client id")
		f.BoolVar(&e.clientDefault, "client-default", false, "the default client id")
		f.StringVar(&e.ip, "ip", "", "the ip (connection_creation_rate)")
		f.BoolVar(&e.ipDefault, "ip-default", false, "the default ip")
	}
	cmd.AddCommand(set, del, list)
	return cmd
}

type quotaEntityFlags struct {
	user, client, ip                      string
	userDefault, clientDefault, ipDefault bool
}

func (e quotaEntityFlags) parts() kadm.ClientQuotaEntity {
	var out kadm.ClientQuotaEntity
	add := func(typ, name string, def bool) {
		switch {
		case def:
			out = append(out, kadm.ClientQuotaEntityComponent{Type: typ})
		case name != "":
			n := name
			out = append(out, kadm.ClientQuotaEntityComponent{Type: typ, Name: &n})
		}
	}
	add("user", e.user, e.userDefault)
	add("client-id", e.client, e.clientDefault)
	add("ip", e.ip, e.ipDefault)
	return out
}

func entityString(ent kadm.ClientQuotaEntity) string {
	var parts []string
	for _, c := range ent {
		parts = append(parts, c.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func alterQuotas(c *cliCtx, e quotaEntityFlags, ops []kadm.AlterClientQuotaOp) error {
	ent := e.parts()
	if len(ent) == 0 {
		return errors.New("name an entity: --user, --client-id, --ip or their -default flags")
	}
	c.need("AlterConfigs", "CLUSTER")
	ctx, cl, done, err := c.connect()
	if err != nil {
		return err
	}
	defer done()
	res, err := cl.Admin().AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: ent, Ops: ops}})
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			if r.ErrMessage != "" {
				return fmt.Errorf("%s: %w: %s", entityString(ent), r.Err, r.ErrMessage)
			}
			return fmt.Errorf("%s: %w", entityString(ent), r.Err)
		}
	}
	fmt.Fprintf(c.out, "quotas of %s updated\n", entityString(ent))
	return nil
}
