package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// userOnline says whether a user command talks to a cluster
// (AlterUserScramCredentials, DescribeUserScramCredentials, as
// kafka-configs.sh --bootstrap-server does) rather than editing a data
// directory: --brokers on the command line or --command-config given
// (REWIND_BROKERS alone, often set for the other commands, keeps the
// data directory), --data-dir not on the command line.
func userOnline(cmd *cobra.Command) (bool, error) {
	online := cmd.Flags().Changed(flagBrokers) || flagGiven(cmd, flagCommandConfig)
	if online && cmd.Flags().Changed("data-dir") {
		return false, errors.New("use either --data-dir (edit a data directory) or --brokers/--command-config (a running cluster's AlterUserScramCredentials), not both")
	}
	return online, nil
}

// scramMechs are the mechanisms a password is stored for, as rewind user
// set does offline.
var scramMechs = []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512}

// userSetOnline stores SCRAM-SHA-256 and SCRAM-SHA-512 credentials (4096
// iterations, a random salt; the client salts, the password never leaves
// it) with AlterUserScramCredentials.
func userSetOnline(cmd *cobra.Command, user, password string) error {
	return runE(func(c *cliCtx, _ []string) error {
		c.need("Alter", "CLUSTER")
		ctx, cl, done, err := c.connect()
		if err != nil {
			return err
		}
		defer done()
		// One request per mechanism: Kafka answers DUPLICATE_RESOURCE to a
		// user named twice in one request, whatever the mechanisms.
		for _, m := range scramMechs {
			up := []kadm.UpsertSCRAM{{User: user, Mechanism: m, Iterations: 4096, Password: password}}
			res, err := cl.Admin().AlterUserSCRAMs(ctx, nil, up)
			if err == nil {
				err = res.Error()
			}
			if err != nil {
				return fmt.Errorf("user %s, %s: %w", user, m, err)
			}
		}
		fmt.Fprintf(c.out, "user %s: SCRAM-SHA-256 and SCRAM-SHA-512 credentials stored on the cluster (Rewind checks PLAIN against them too)\n", user)
		return nil
	})(cmd, nil)
}

// userDeleteOnline removes both SCRAM credentials of a user.
func userDeleteOnline(cmd *cobra.Command, user string) error {
	return runE(func(c *cliCtx, _ []string) error {
		c.need("Alter", "CLUSTER")
		ctx, cl, done, err := c.connect()
		if err != nil {
			return err
		}
		defer done()
		deleted := false
		for _, m := range scramMechs {
			res, err := cl.Admin().AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: user, Mechanism: m}}, nil)
			if err == nil {
				err = res.Error()
			}
			switch {
			case err == nil:
				deleted = true
			case errors.Is(err, kerr.ResourceNotFound):
			default:
				return fmt.Errorf("user %s, %s: %w", user, m, err)
			}
		}
		if !deleted {
			return fmt.Errorf("user %s does not exist on the cluster", user)
		}
		fmt.Fprintf(c.out, "user %s deleted\n", user)
		return nil
	})(cmd, nil)
}

// userListOnline lists the cluster's users and their mechanisms.
func userListOnline(cmd *cobra.Command) error {
	return runE(func(c *cliCtx, _ []string) error {
		c.need("Describe", "CLUSTER")
		ctx, cl, done, err := c.connect()
		if err != nil {
			return err
		}
		defer done()
		users, err := cl.Admin().DescribeUserSCRAMs(ctx)
		if err == nil {
			err = users.Error()
		}
		if err != nil {
			return err
		}
		names := make([]string, 0, len(users))
		for u := range users {
			names = append(names, u)
		}
		sort.Strings(names)
		for _, u := range names {
			var mechs []string
			for _, ci := range users[u].CredInfos {
				mechs = append(mechs, ci.Mechanism.String())
			}
			sort.Strings(mechs)
			fmt.Fprintf(c.out, "%s\t%s\n", u, strings.Join(mechs, ","))
		}
		return nil
	})(cmd, nil)
}
