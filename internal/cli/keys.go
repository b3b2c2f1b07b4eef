package cli

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-ml/sluice/internal/server"
	"github.com/sluice-ml/sluice/internal/store"
)

// The keys commands work on the data directory's database directly: they are the way in when no
// key exists yet, so they cannot require one.
func newKeysCmd(g *globals) *cobra.Command {
	var database string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the access keys the server accepts (works on the data directory's database)",
	}
	cmd.PersistentFlags().StringVar(&database, "database", os.Getenv("SLUICE_DATABASE"), "postgres://… DSN when the server uses PostgreSQL")
	open := func(ctx context.Context) (*store.Store, error) {
		if _, err := os.Stat(g.home); err != nil && database == "" {
			return nil, fmt.Errorf("data directory %s not found: start the server once (`sluice server --home %s`) or pass --home", g.home, g.home)
		}
		return store.Open(ctx, database, g.home, nil)
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an access key for a person or a CI system",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			k := server.NewAccessKey(args[0])
			if err := st.CreateAccessKey(cmd.Context(), k); err != nil {
				return err
			}
			return g.emit(map[string]string{"AccessKeyId": k.AccessKeyID, "SecretAccessKey": k.Secret, "Name": k.Name}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "ACCESS KEY ID\tSECRET ACCESS KEY\tNAME\n%s\t%s\t%s\n", k.AccessKeyID, k.Secret, k.Name)
				fmt.Fprintf(g.stderr, "Keep the secret now: it is not shown again by `keys list`.\n")
			})
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List access keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			keys, err := st.AccessKeys(cmd.Context())
			if err != nil {
				return err
			}
			type row struct {
				AccessKeyId string
				Name        string
				Root        bool
				CreatedAt   time.Time
			}
			rows := make([]row, len(keys))
			for i, k := range keys {
				rows[i] = row{k.AccessKeyID, k.Name, k.Root, k.CreatedAt}
			}
			return g.emit(rows, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ACCESS KEY ID\tNAME\tROOT\tCREATED")
				for _, r := range rows {
					fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", r.AccessKeyId, r.Name, r.Root, fmtTime(&r.CreatedAt))
				}
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete ACCESS_KEY_ID",
		Short: "Delete an access key; requests signed with it are refused from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.DeleteAccessKey(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("delete key %s: %w", args[0], err)
			}
			fmt.Fprintf(g.stderr, "Deleted access key %s.\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
