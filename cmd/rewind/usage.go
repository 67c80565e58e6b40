package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// What users of kafka-consumer-groups.sh, kcat and rpk type, understood or
// answered with the way to say it here.

// flagAliases are other tools' names for our flags: --bootstrap-server is
// every Apache Kafka tool's --brokers.
var flagAliases = map[string]string{"bootstrap-server": flagBrokers}

func normalizeFlag(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if to, ok := flagAliases[name]; ok {
		name = to
	}
	return pflag.NormalizedName(name)
}

// otherToolHints answer kafka-consumer-groups.sh's flags for what is a
// positional argument or a command here.
var otherToolHints = map[string]string{
	"group":          "the group is an argument here, not a flag: %s GROUP",
	"topic":          "the topic is an argument here, not a flag: %s TOPIC",
	"describe":       "kafka-consumer-groups.sh's --describe is the command rewind group describe GROUP",
	"reset-offsets":  "kafka-consumer-groups.sh's --reset-offsets is the command rewind group reset GROUP",
	"list":           "kafka-consumer-groups.sh's --list is the command rewind group list",
	"delete":         "kafka-consumer-groups.sh's --delete is the command rewind group delete GROUP",
	"delete-offsets": "kafka-consumer-groups.sh's --delete-offsets is the command rewind group delete-offsets GROUP --topic T",
}

// flagError adds to an unknown flag the nearest known one, or what the
// flag of another tool is here.
func flagError(cmd *cobra.Command, err error) error {
	name, ok := unknownFlag(err.Error())
	if !ok {
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	}
	if hint, ok := otherToolHints[name]; ok && cmd.Flags().Lookup(name) == nil {
		if strings.Contains(hint, "%s") {
			hint = fmt.Sprintf(hint, cmd.CommandPath())
		}
		return fmt.Errorf("%w: %s", err, hint)
	}
	best, bestD := "", 3 // at most 2 edits, or a prefix
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(name, f.Name)
		if len(name) >= 3 && strings.HasPrefix(f.Name, name) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = f.Name, d
		}
	})
	if best != "" {
		return fmt.Errorf("%w: did you mean --%s? (see %s --help)", err, best, cmd.CommandPath())
	}
	return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
}

var unknownFlagRE = regexp.MustCompile(`^unknown flag: --([^ =]+)`)

func unknownFlag(msg string) (string, bool) {
	m := unknownFlagRE.FindStringSubmatch(msg)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// editDistance is Levenshtein's distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// namedArgs makes every command's argument errors name the arguments its
// usage line lists ("describe GROUP"), instead of cobra's "accepts 1
// arg(s), received 0".
func namedArgs(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		namedArgs(sub)
	}
	if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil && cmd.HasParent() {
		// cobra prints the help of "rewind group" for "rewind group
		// reset-offsets" and exits 0: name the mistake, and fail.
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
			if c.SuggestionsMinimumDistance <= 0 {
				c.SuggestionsMinimumDistance = 2 // cobra sets it only where it suggests itself
			}
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return fmt.Errorf("%s (see %s --help)", msg, c.CommandPath())
		}
		return
	}
	if cmd.Args == nil {
		return
	}
	check := cmd.Args
	cmd.Args = func(c *cobra.Command, args []string) error {
		err := check(c, args)
		if err == nil || !strings.HasPrefix(err.Error(), "accepts ") {
			return err
		}
		names := argNames(c.Use)
		switch {
		case len(args) < len(names):
			return fmt.Errorf("%s: missing %s (usage: %s)", c.CommandPath(), strings.Join(names[len(args):], " "), c.UseLine())
		case len(names) == 0:
			return fmt.Errorf("%s takes no arguments; received %q (usage: %s)", c.CommandPath(), args, c.UseLine())
		}
		return fmt.Errorf("%s takes %s; received %d argument(s) %q (usage: %s)", c.CommandPath(), strings.Join(names, " "), len(args), args, c.UseLine())
	}
}

// argNames are the upper-case words of a usage line before its first
// flag or option group: "reset GROUP --topic T" gives GROUP.
func argNames(use string) []string {
	var out []string
	for _, w := range strings.Fields(use)[1:] {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "(") || strings.HasPrefix(w, "[") {
			break
		}
		if w == strings.ToUpper(w) {
			out = append(out, w)
		}
	}
	return out
}
