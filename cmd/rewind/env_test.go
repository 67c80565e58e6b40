package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandPaths lists every command of the CLI by its arguments.
func commandPaths(c *cobra.Command, prefix []string, out *[][]string) {
	*out = append(*out, prefix)
	for _, sub := range c.Commands() {
		commandPaths(sub, append(append([]string{}, prefix...), sub.Name()), out)
	}
}

// envTestValue is a value of f's type that differs from its default, and
// how the flag prints it once set.
func envTestValue(t *testing.T, f *pflag.Flag) (set, want string) {
	switch f.Value.Type() {
	case "bool":
		if f.DefValue == "true" {
			return "false", "false"
		}
		return "true", "true"
	case "int", "int16", "int32", "int64", "uint", "uint16", "uint32", "uint64", "float64":
		return "7", "7"
	case "duration":
		return "7s", "7s"
	case "string":
		return "from-env-7", "from-env-7"
	case "stringSlice":
		return "a,b", "[a,b]"
	case "stringArray":
		// One variable is one element: an array flag repeats on the
		// command line, its commas are not separators.
		return "a=b,c", `["a=b,c"]`
	case "intSlice", "int32Slice", "int64Slice":
		return "1,2", "[1,2]"
	}
	t.Errorf("--%s: no test value for flag type %s: add one", f.Name, f.Value.Type())
	return "", ""
}

// TestEveryFlagHasItsEnvVar: every flag of every command, the shared
// client flags included, is set by REWIND_<NAME> when the command line
// does not give it, counts as given (flagGiven) and stays unchanged for
// cobra (Changed is the command line alone, which bench relies on for
// --brokers).
func TestEveryFlagHasItsEnvVar(t *testing.T) {
	var paths [][]string
	commandPaths(newRootCmd(), nil, &paths)
	checked := map[string]bool{}
	for _, path := range paths {
		t.Run(strings.Join(append([]string{"rewind"}, path...), " "), func(t *testing.T) {
			root := newRootCmd()
			cmd, _, err := root.Find(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.ParseFlags(nil); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Name == "help" {
					return
				}
				set, w := envTestValue(t, f)
				t.Setenv(envVar(f.Name), set)
				want[f.Name] = w
			})
			if err := flagsFromEnv(cmd); err != nil {
				t.Fatal(err)
			}
			for name, w := range want {
				f := cmd.Flags().Lookup(name)
				if got := f.Value.String(); got != w {
					t.Errorf("%s=%v: --%s is %q, want %q", envVar(name), w, name, got, w)
				}
				if !flagGiven(cmd, name) || f.Changed {
					t.Errorf("--%s from %s: given %v, changed %v", name, envVar(name), flagGiven(cmd, name), f.Changed)
				}
				checked[name] = true
			}
		})
	}
	// The variables the README and the serve help name, among all others.
	for _, name := range []string{"data-dir", "listen", "http", "fsync", "brokers", "output", "timeout", "rounds", "kfake"} {
		if !checked[name] {
			t.Errorf("--%s (%s) was not checked", name, envVar(name))
		}
	}
}

// TestCommandLineWinsOverEnv: a flag on the command line is not
// overridden by its environment variable, and an empty variable still
// sets a flag (REWIND_HTTP= turns the admin listener off, as --http "").
func TestCommandLineWinsOverEnv(t *testing.T) {
	t.Setenv("REWIND_BROKERS", "from-env:9092")
	t.Setenv("REWIND_HTTP", "")
	root := newRootCmd()
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.ParseFlags([]string{"--brokers", "cli:9092"}); err != nil {
		t.Fatal(err)
	}
	if err := flagsFromEnv(serve); err != nil {
		t.Fatal(err)
	}
	if got := serve.Flags().Lookup("brokers").Value.String(); got != "cli:9092" {
		t.Errorf("--brokers = %q, want the command line's", got)
	}
	if !flagGiven(serve, "http") || serve.Flags().Lookup("http").Value.String() != "" {
		t.Errorf("REWIND_HTTP= did not set --http to empty")
	}
	if flagGiven(serve, "data-dir") {
		t.Errorf("--data-dir counts as given with neither the flag nor REWIND_DATA_DIR")
	}
	t.Setenv("REWIND_ROUNDS", "x")
	bench, _, _ := newRootCmd().Find([]string{"bench"})
	bench.ParseFlags(nil)
	if err := flagsFromEnv(bench); err == nil || !strings.Contains(err.Error(), `REWIND_ROUNDS="x"`) {
		t.Errorf("a bad REWIND_ROUNDS: %v", err)
	}
}
