// Package cli is the sluice command line: the server, the demo and the client commands, which
// talk to a server through SageMaker's API (the AWS SDK for Go) and Sluice's native API.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/config"
)

// globals are the flags every client command shares.
type globals struct {
	// args are the command line's arguments, for a server that runs itself again.
	args     []string
	home     string
	endpoint string
	profile  string
	region   string
	output   string
	stdout   io.Writer
	stderr   io.Writer
}

// Main runs the command line with args and returns the process exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, os.Stdout, os.Stderr)
}

// Run runs the command line with explicit streams, for tests.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(args, stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(stderr, "error:", describeError(err))
		return 1
	}
	return 0
}

// exitError carries a specific exit code without printing again.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// describeError shortens SDK errors to the server's message.
func describeError(err error) string {
	var ae *awsapi.Error
	if errors.As(err, &ae) {
		return ae.Code + ": " + ae.Message
	}
	return apiErrorMessage(err)
}

func newRoot(args []string, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{args: args, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: a self-hosted MLOps control plane that speaks SageMaker's API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.home, "home", config.DefaultDataDir(), "data directory of the local server ($SLUICE_HOME)")
	pf.StringVar(&g.endpoint, "endpoint", os.Getenv("SLUICE_ENDPOINT"), "server URL (default: the local server's, from the data directory) ($SLUICE_ENDPOINT)")
	pf.StringVar(&g.profile, "profile", os.Getenv("SLUICE_PROFILE"), "AWS profile with the access key (default: the data directory's sluice profile) ($SLUICE_PROFILE)")
	pf.StringVar(&g.region, "region", "", "region to sign requests for (default: the profile's)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")

	root.AddCommand(
		newServerCmd(g),
		newKeysCmd(g),
	)
	for _, add := range commandSets {
		root.AddCommand(add(g)...)
	}
	return root
}

// commandSets lets each command file contribute its commands without editing newRoot.
var commandSets []func(g *globals) []*cobra.Command

func addCommands(f func(g *globals) []*cobra.Command) { commandSets = append(commandSets, f) }
