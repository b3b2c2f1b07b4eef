package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice-ml/sluice/internal/project"
)

func init() {
	addCommands(func(g *globals) []*cobra.Command { return []*cobra.Command{newProjectCmd(g)} })
}

func newProjectCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "project", Short: "Start a new project from a template"}
	var tmpl, name string
	var force bool
	initCmd := &cobra.Command{
		Use:   "init --template TEMPLATE DIR [--name NAME] [--force]",
		Short: "Scaffold a project: build and deploy pipelines, environments, endpoint tests, its own test and CI",
		Long: `Scaffold a project into DIR from a template. build-deploy writes a build pipeline
(build/), a deploy pipeline with staging and prod environments and endpoint tests (deploy/),
tests/run.sh (runs both pipelines end to end on a throwaway server), a GitHub Actions workflow
and a CircleCI configuration. The project name (default: DIR's base name) names the model
package group, the pipelines and the endpoints. Templates: ` + strings.Join(project.Templates(), ", ") + `.`,
		Example: `  sluice project init --template build-deploy churn
  cd churn && tests/run.sh`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			files, err := project.Init(project.Options{Template: tmpl, Dir: dir, Name: name, Force: force})
			if err != nil {
				return err
			}
			n := name
			if n == "" {
				abs, _ := filepath.Abs(dir)
				n = filepath.Base(abs)
			}
			fmt.Fprintf(g.stdout, "Created project %s in %s:\n", n, dir)
			for _, f := range files {
				fmt.Fprintf(g.stdout, "  %s\n", f)
			}
			fmt.Fprintf(g.stdout, `Next:
  cd %s
  tests/run.sh                                         # both pipelines end to end on a throwaway server
  sluice pipelines upsert -f build/pipeline.json --name %s-build
  sluice pipelines start %s-build --wait
`, dir, n, n)
			return nil
		},
	}
	f := initCmd.Flags()
	f.StringVar(&tmpl, "template", "", "template to use (available: "+strings.Join(project.Templates(), ", ")+")")
	f.StringVar(&name, "name", "", "project name (default: DIR's base name); names the model package group, pipelines and endpoints")
	f.BoolVar(&force, "force", false, "write into a non-empty DIR, replacing files of the same name")
	cmd.AddCommand(initCmd)
	return cmd
}
