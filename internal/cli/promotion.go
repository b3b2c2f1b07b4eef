package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func init() { addCommands(promotionCommands) }

func promotionCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{newEnvsCmd(g), newApprovalsCmd(g), newReleasesCmd(g), newTriggersCmd(g)}
}

// native connects and calls the native API.
func (g *globals) native(ctx context.Context, method, path string, in, out any) error {
	c, err := g.connect(ctx)
	if err != nil {
		return err
	}
	var body []byte
	if in != nil {
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	return c.do(ctx, method, path, body, out)
}

// ---- environments

type envView struct {
	Name         string
	Description  string `json:",omitempty"`
	EndpointName string
	Variant      struct {
		VariantName, InstanceType string
		InstanceCount             int32
	}
	DataCapture *struct {
		InitialSamplingPercentage int32
		DestinationS3Uri          string
	} `json:",omitempty"`
	DeploymentConfig json.RawMessage                            `json:",omitempty"`
	Alarms           []string                                   `json:",omitempty"`
	Remote           *struct{ Url, AccessKeyId, Region string } `json:",omitempty"`
	LastModifiedTime time.Time
}

func (e envView) kind() string {
	if e.Remote != nil {
		return "remote " + e.Remote.Url
	}
	return "local"
}

// readConfigFile reads a JSON or YAML file into a JSON document.
func readConfigFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if strings.HasSuffix(path, ".json") {
		err = json.Unmarshal(b, &v)
	} else {
		err = yaml.Unmarshal(b, &v)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if v == nil {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

func newEnvsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "envs", Short: "Environments that deploy pipelines deploy to (staging, prod, …), local or on another server"}
	var name string
	create := &cobra.Command{
		Use:   "create FILE",
		Short: "Create or replace an environment from a YAML or JSON file",
		Long: `Create or replace an environment from its configuration file: EndpointName, Variant
{VariantName, InstanceCount, InstanceType}, DataCapture, DeploymentConfig (UpdateEndpoint's,
e.g. a CANARY blue/green policy), Alarms (which roll a deployment back), and for an environment
on another Sluice server Remote {Url, AccessKeyId, SecretAccessKey, Region}. The SageMaker
samples' staging-config.json and prod-config.json ({"Parameters": {...}}) are accepted as they are.
The name is --name, the file's Name, or the file name without its extension.`,
		Example: `  sluice envs create examples/deploy/staging-config.json --name staging
  sluice envs create prod.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := readConfigFile(args[0])
			if err != nil {
				return err
			}
			n := name
			if n == "" {
				n, _ = doc["Name"].(string)
			}
			if n == "" {
				n = strings.TrimSuffix(filepath.Base(args[0]), filepath.Ext(args[0]))
				n = strings.TrimSuffix(n, "-config")
			}
			doc["Name"] = n
			var out struct {
				Environment envView
				Created     bool
			}
			if err := g.native(cmd.Context(), "PUT", "/api/v1/environments/"+url.PathEscape(n), doc, &out); err != nil {
				return err
			}
			return g.emit(out, func(w *tabwriter.Writer) {
				verb := "updated"
				if out.Created {
					verb = "created"
				}
				fmt.Fprintf(w, "environment %s %s (%s, endpoint %s)\n", n, verb, out.Environment.kind(), out.Environment.EndpointName)
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "environment name (default: the file's Name, or its file name)")
	list := &cobra.Command{
		Use: "list", Short: "List environments", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct{ Environments []envView }
			if err := g.native(cmd.Context(), "GET", "/api/v1/environments", nil, &out); err != nil {
				return err
			}
			return g.emit(out.Environments, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tWHERE\tENDPOINT\tINSTANCES\tPOLICY\tALARMS")
				for _, e := range out.Environments {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d × %s\t%s\t%s\n", e.Name, e.kind(), e.EndpointName, e.Variant.InstanceCount, e.Variant.InstanceType,
						policyOf(e.DeploymentConfig), dash(strings.Join(e.Alarms, ",")))
				}
			})
		},
	}
	describe := &cobra.Command{
		Use: "describe NAME", Short: "Show an environment's configuration (secrets redacted)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]any
			if err := g.native(cmd.Context(), "GET", "/api/v1/environments/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			if g.output == "json" {
				return g.emit(out, nil)
			}
			b, _ := yaml.Marshal(out)
			_, err := g.stdout.Write(b)
			return err
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete an environment (its endpoint keeps running; its releases stay)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.native(cmd.Context(), "DELETE", "/api/v1/environments/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "environment %s deleted\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, describe, del)
	return cmd
}

// policyOf summarises a DeploymentConfig for tables.
func policyOf(dc json.RawMessage) string {
	var d struct {
		BlueGreenUpdatePolicy *struct {
			TrafficRoutingConfiguration struct {
				Type                  string
				WaitIntervalInSeconds int
				CanarySize            *struct {
					Type  string
					Value int
				}
				LinearStepSize *struct {
					Type  string
					Value int
				}
			}
		}
	}
	if json.Unmarshal(dc, &d) != nil || d.BlueGreenUpdatePolicy == nil {
		return "all at once"
	}
	t := d.BlueGreenUpdatePolicy.TrafficRoutingConfiguration
	size := ""
	if s := t.CanarySize; s != nil {
		size = fmt.Sprintf(" %d%s", s.Value, map[bool]string{true: "%", false: " inst"}[s.Type == "CAPACITY_PERCENT"])
	}
	if s := t.LinearStepSize; s != nil {
		size = fmt.Sprintf(" %d%s", s.Value, map[bool]string{true: "%", false: " inst"}[s.Type == "CAPACITY_PERCENT"])
	}
	return fmt.Sprintf("%s%s, bake %ds", t.Type, size, t.WaitIntervalInSeconds)
}

// ---- approvals

type approvalView struct {
	ApprovalId, PipelineName, PipelineExecutionArn, StepName, Message, Status, DecidedBy, Comment, FailureReason string
	RequestedAt                                                                                                  time.Time
	Deadline, DecidedAt                                                                                          *time.Time
}

func newApprovalsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "approvals", Short: "Manual approval gates of deploy pipelines: list, approve, reject"}
	var all bool
	list := &cobra.Command{
		Use: "list", Short: "List approval gates waiting for a decision (--all: decided ones too)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/api/v1/approvals"
			if all {
				path += "?all=true"
			}
			var out struct{ Approvals []approvalView }
			if err := g.native(cmd.Context(), "GET", path, nil, &out); err != nil {
				return err
			}
			return g.emit(out.Approvals, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tSTATUS\tPIPELINE\tSTEP\tEXECUTION\tREQUESTED\tDECIDED BY\tCOMMENT")
				for _, a := range out.Approvals {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ApprovalId, a.Status, a.PipelineName, a.StepName, lastSegment(a.PipelineExecutionArn),
						fmtTime(&a.RequestedAt), dash(a.DecidedBy), dash(a.Comment))
				}
			})
		},
	}
	list.Flags().BoolVar(&all, "all", false, "list decided and expired gates too")
	decide := func(verb string) *cobra.Command {
		var comment string
		c := &cobra.Command{
			Use: verb + " ID", Short: strings.ToUpper(verb[:1]) + verb[1:] + " an approval gate, with a comment", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var out approvalView
				if err := g.native(cmd.Context(), "POST", "/api/v1/approvals/"+url.PathEscape(args[0])+"/"+verb, map[string]string{"Comment": comment}, &out); err != nil {
					return err
				}
				return g.emit(out, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "%s: %s by %s (%s, step %s)\n", out.ApprovalId, out.Status, out.DecidedBy, out.PipelineName, out.StepName)
				})
			},
		}
		c.Flags().StringVar(&comment, "comment", "", "why (recorded with the decision and the release)")
		return c
	}
	cmd.AddCommand(list, decide("approve"), decide("reject"))
	return cmd
}

// ---- releases

type releaseView struct {
	ReleaseId                                                                   int64
	Environment, EndpointName, ModelPackageArn, ModelPackageGroupName, StepName string
	ModelPackageVersion                                                         int
	PipelineExecutionArn, ApprovedBy, ApprovalComment, Status, FailureReason    string
	Evidence                                                                    json.RawMessage `json:",omitempty"`
	StartedAt                                                                   time.Time
	ApprovedAt, EndedAt                                                         *time.Time
}

func (r releaseView) version() string {
	if r.ModelPackageGroupName != "" {
		return fmt.Sprintf("%s/%d", r.ModelPackageGroupName, r.ModelPackageVersion)
	}
	return r.ModelPackageArn
}

func newReleasesCmd(g *globals) *cobra.Command {
	var env string
	var history int
	cmd := &cobra.Command{
		Use:   "releases",
		Short: "What runs where: per environment the live version, deployments in progress and (--history) past releases",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if env != "" {
				q.Set("environment", env)
			}
			if history > 0 {
				q.Set("history", fmt.Sprint(history))
			}
			var out struct {
				Environments []struct {
					Environment, Kind, Url, EndpointName string
					Live                                 *releaseView
					InProgress                           []releaseView
					History                              []releaseView
				}
			}
			if err := g.native(cmd.Context(), "GET", "/api/v1/releases?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			return g.emit(out.Environments, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ENVIRONMENT\tWHERE\tENDPOINT\tLIVE\tSINCE\tAPPROVED BY\tIN PROGRESS")
				for _, e := range out.Environments {
					where := e.Kind
					if e.Url != "" {
						where += " " + e.Url
					}
					live, since, by := "-", "-", "-"
					if l := e.Live; l != nil {
						live, since, by = l.version(), fmtTime(l.EndedAt), dash(l.ApprovedBy)
					}
					var prog []string
					for _, p := range e.InProgress {
						prog = append(prog, p.version())
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Environment, where, e.EndpointName, live, since, by, dash(strings.Join(prog, ", ")))
				}
				if history == 0 {
					return
				}
				fmt.Fprintln(w)
				fmt.Fprintln(w, "ID\tENVIRONMENT\tVERSION\tSTATUS\tSTARTED\tENDED\tAPPROVED BY\tEXECUTION\tREASON")
				for _, e := range out.Environments {
					for _, r := range e.History {
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ReleaseId, r.Environment, r.version(), r.Status, fmtTime(&r.StartedAt),
							fmtTime(r.EndedAt), dash(r.ApprovedBy), lastSegment(r.PipelineExecutionArn), dash(truncateText(r.FailureReason, 100)))
					}
				}
			})
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "one environment only")
	cmd.Flags().IntVar(&history, "history", 0, "also list this many past releases per environment (--history alone: 10)")
	cmd.Flags().Lookup("history").NoOptDefVal = "10"
	return cmd
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ---- triggers

func newTriggersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "triggers", Short: "Start deploy pipelines on an approval, on a schedule or from a webhook call"}
	var pipelineName, group, schedule string
	var webhook bool
	var params []string
	create := &cobra.Command{
		Use:   "create NAME --pipeline P (--on-approval GROUP | --schedule EXPR | --webhook)",
		Short: "Create a trigger",
		Long: `Create a trigger that starts a deploy pipeline:
  --on-approval GROUP  when a version of GROUP becomes Approved (ModelPackageArn is passed to the
                       pipeline if it declares it), or an Approved one is withdrawn (the latest
                       still-Approved version is passed)
  --schedule EXPR      on rate(N minutes|hours|days) or cron(min hour dom month dow [year]), UTC
  --webhook            on POST /api/v1/webhooks/NAME with the token printed once, for CI systems
Each event, schedule time or webhook delivery id starts at most one execution.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := map[string]any{"TriggerName": args[0], "PipelineName": pipelineName}
			n := 0
			if group != "" {
				in["Kind"], in["ModelPackageGroupName"] = "event", group
				n++
			}
			if schedule != "" {
				in["Kind"], in["Schedule"] = "schedule", schedule
				n++
			}
			if webhook {
				in["Kind"] = "webhook"
				n++
			}
			if n != 1 {
				return fmt.Errorf("give exactly one of --on-approval GROUP, --schedule EXPR or --webhook")
			}
			if len(params) > 0 {
				pm := map[string]string{}
				for _, p := range params {
					k, v, ok := strings.Cut(p, "=")
					if !ok {
						return fmt.Errorf("--param %q: want NAME=VALUE", p)
					}
					pm[k] = v
				}
				in["Parameters"] = pm
			}
			var out struct {
				TriggerName, Kind, PipelineName, Token string
				NextRun                                *time.Time
			}
			if err := g.native(cmd.Context(), "POST", "/api/v1/triggers", in, &out); err != nil {
				return err
			}
			return g.emit(out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "trigger %s created (%s → pipeline %s)\n", out.TriggerName, out.Kind, out.PipelineName)
				if out.NextRun != nil {
					fmt.Fprintf(w, "next run: %s\n", out.NextRun.UTC().Format(time.RFC3339))
				}
				if out.Token != "" {
					c, _ := g.connect(cmd.Context())
					base := ""
					if c != nil {
						base = c.endpoint
					}
					fmt.Fprintf(w, "token (shown once): %s\n", out.Token)
					fmt.Fprintf(w, "call: curl -X POST -H 'Authorization: Bearer %s' %s/api/v1/webhooks/%s\n", out.Token, base, out.TriggerName)
				}
			})
		},
	}
	f := create.Flags()
	f.StringVar(&pipelineName, "pipeline", "", "the deploy pipeline to start (required)")
	f.StringVar(&group, "on-approval", "", "model package group whose approvals start the pipeline")
	f.StringVar(&schedule, "schedule", "", "rate(...) or cron(...) expression")
	f.BoolVar(&webhook, "webhook", false, "start the pipeline from a webhook call")
	f.StringArrayVar(&params, "param", nil, "pipeline parameter NAME=VALUE for every execution (repeatable)")
	create.MarkFlagRequired("pipeline")
	list := &cobra.Command{
		Use: "list", Short: "List triggers and their latest firings", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				Triggers []struct {
					TriggerName, Kind, PipelineName, ModelPackageGroupName, Schedule string
					NextRun                                                          *time.Time
					Firings                                                          []struct {
						DeliveryKey, PipelineExecutionArn, Reason string
						Time                                      time.Time
					}
				}
			}
			if err := g.native(cmd.Context(), "GET", "/api/v1/triggers", nil, &out); err != nil {
				return err
			}
			return g.emit(out.Triggers, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tKIND\tPIPELINE\tON\tNEXT RUN\tFIRINGS\tLAST")
				for _, t := range out.Triggers {
					on := map[string]string{"event": "approval in " + t.ModelPackageGroupName, "schedule": t.Schedule, "webhook": "POST /api/v1/webhooks/" + t.TriggerName}[t.Kind]
					last := "-"
					if len(t.Firings) > 0 {
						last = fmt.Sprintf("%s %s", fmtTime(&t.Firings[0].Time), lastSegment(t.Firings[0].PipelineExecutionArn))
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", t.TriggerName, t.Kind, t.PipelineName, on, fmtTime(t.NextRun), len(t.Firings), last)
				}
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a trigger (executions it started go on)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.native(cmd.Context(), "DELETE", "/api/v1/triggers/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "trigger %s deleted\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
