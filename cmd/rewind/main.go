// Command rewind is a Kafka-wire-compatible broker (rewind serve) and the
// tools to inspect and steer consumer groups against Rewind or any Kafka.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "rewind:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "rewind",
		Short:         "A Kafka-compatible broker with first-class consumer-group offset tooling",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return flagsFromEnv(cmd)
		},
	}
	root.AddCommand(newServeCmd(), newVersionCmd(), newBenchCmd(), newRepairCmd(), newUserCmd())
	addClientFlags(root)
	root.AddCommand(clientCommands()...)
	root.SetGlobalNormalizationFunc(normalizeFlag) // usage.go
	root.SetFlagErrorFunc(flagError)
	namedArgs(root)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "rewind", version)
		},
	}
}

// envVar is the environment variable that sets a flag: REWIND_<NAME>,
// upper case, dashes as underscores (--data-dir: REWIND_DATA_DIR).
func envVar(flag string) string {
	return "REWIND_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// fromEnv is the annotation flagsFromEnv puts on a flag it set.
const fromEnv = "rewind-from-env"

// flagsFromEnv fills every flag not given on the command line from its
// envVar; such a flag stays unchanged for cobra (Changed is the command
// line alone) and counts as given for flagGiven.
func flagsFromEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		env := envVar(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
				return
			}
			if f.Annotations == nil {
				f.Annotations = map[string][]string{}
			}
			f.Annotations[fromEnv] = []string{env}
		}
	})
	return err
}

// flagGiven reports whether a flag was set on the command line or by its
// environment variable, rather than left at its default.
func flagGiven(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	return f != nil && (f.Changed || len(f.Annotations[fromEnv]) > 0)
}
