package main

import (
	"bufio"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/rewindhq/rewind/broker"
	"github.com/spf13/cobra"
)

// newUserCmd manages the SASL users of a data directory: what Kafka's
// kafka-configs.sh --alter --add-config 'SCRAM-SHA-256=[password=...]'
// does, offline. A running broker reads the file again at its next
// authentication, so users can be added while it runs.
func newUserCmd() *cobra.Command {
	dataDir := broker.DefaultConfig().DataDir
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage SASL users (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) in a data directory",
		Long: `Manage the SASL users of --data-dir. Passwords are stored salted, as
SCRAM-SHA-256 and SCRAM-SHA-512 credentials (salt, iterations, StoredKey,
ServerKey) in --data-dir/` + broker.CredentialsFile + `; SASL/PLAIN is checked
against the same. A running broker sees a change at its next
authentication; connections already authenticated stay.

With --brokers or --command-config (and no --data-dir) the commands work
on a running cluster instead, Rewind or Kafka, through
AlterUserScramCredentials and DescribeUserScramCredentials as
kafka-configs.sh --bootstrap-server --entity-type users does: the client
salts the password (4096 iterations) and sends only the salted form;
ALTER (set, delete) or DESCRIBE (list) on the cluster is needed.`,
		Example: `  echo "$PW" | rewind user set alice --data-dir /var/lib/rewind
  echo "$PW" | rewind user set alice --brokers kafka:9095 --command-config admin.properties
  rewind user list --command-config admin.properties`,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", dataDir, "data directory of the broker")
	var fromStdin bool
	set := &cobra.Command{
		Use:   "set NAME",
		Short: "Create a user or change its password (read from stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd, fromStdin)
			if err != nil {
				return err
			}
			if online, err := userOnline(cmd); err != nil || online {
				if err != nil {
					return err
				}
				return userSetOnline(cmd, args[0], pw)
			}
			if err := broker.SetUserPassword(dataDir, args[0], pw); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s: SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN credentials stored\n", args[0])
			return nil
		},
	}
	set.Flags().BoolVar(&fromStdin, "password-stdin", true, "read the password from the first line of stdin")
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if online, err := userOnline(cmd); err != nil || online {
				if err != nil {
					return err
				}
				return userDeleteOnline(cmd, args[0])
			}
			ok, err := broker.DeleteUser(dataDir, args[0])
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("user %s does not exist", args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s deleted\n", args[0])
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List users and their mechanisms",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if online, err := userOnline(cmd); err != nil || online {
				if err != nil {
					return err
				}
				return userListOnline(cmd)
			}
			users, err := broker.Users(dataDir)
			if err != nil {
				return err
			}
			names := make([]string, 0, len(users))
			for u := range users {
				names = append(names, u)
			}
			sort.Strings(names)
			for _, u := range names {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", u, strings.Join(users[u], ","))
			}
			return nil
		},
	}
	cmd.AddCommand(set, del, list)
	return cmd
}

func readPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	if !fromStdin {
		return "", errors.New("the password is read from stdin (--password-stdin); it is never taken as an argument, which other users could see")
	}
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("no password on stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}
