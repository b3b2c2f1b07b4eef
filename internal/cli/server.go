package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server"
)

func newServerCmd(g *globals) *cobra.Command {
	var (
		configFile  string
		printConfig bool
		listen      string
		database    string
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Sluice server (SQLite and local artifacts by default)",
		Long: `Run the Sluice server. Configuration is layered: defaults, then --config FILE (YAML), then
SLUICE_* environment variables, then flags. On first start the server creates a root access key
and writes an AWS credentials and config profile named "sluice" into the data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := config.Default()
			if configFile != "" {
				if err := cfg.LoadFile(configFile); err != nil {
					return err
				}
			}
			if err := cfg.LoadEnv(os.Getenv); err != nil {
				return err
			}
			if cmd.Flags().Changed("home") {
				cfg.DataDir = g.home
			}
			if listen != "" {
				cfg.Listen = listen
			}
			if database != "" {
				cfg.Database = database
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			if printConfig {
				fmt.Fprint(g.stdout, cfg.String())
				return nil
			}
			if code, ok := runRootless(cmd.Context(), g.args, g.stdout, g.stderr); ok {
				if code != 0 {
					return exitError{code}
				}
				return nil
			}
			log := server.NewLogger(g.stderr, cfg.LogLevel, cfg.LogFormat)
			srv, err := server.New(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			printWelcome(g, srv, cfg)
			return srv.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML configuration file")
	f.BoolVar(&printConfig, "print-config", false, "print the effective configuration and exit")
	f.StringVar(&listen, "listen", "", "address to listen on (default 127.0.0.1:7070) ($SLUICE_LISTEN)")
	f.StringVar(&database, "database", "", "postgres://… DSN; empty for embedded SQLite ($SLUICE_DATABASE)")
	return cmd
}

func printWelcome(g *globals, srv *server.Server, cfg config.Config) {
	abs, _ := filepath.Abs(cfg.DataDir)
	if srv.FirstStart {
		fmt.Fprintf(g.stderr, "Created the root access key and an AWS profile %q in %s.\n", server.ProfileName, abs)
	}
	fmt.Fprintf(g.stderr, `Sluice is listening on %s
Use it from the AWS CLI, boto3 or any AWS SDK:
  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s
  aws --profile %s sagemaker list-model-package-groups
The sluice CLI finds this server by itself when run with --home %s.
`, srv.URL(), filepath.Join(abs, "credentials"), filepath.Join(abs, "config"), server.ProfileName, cfg.DataDir)
}
