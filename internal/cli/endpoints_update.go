package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/spf13/cobra"
)

// The update, history and watch commands: safe deployments through UpdateEndpoint's
// DeploymentConfig, and the evidence the server keeps of each (the native deployments API).

// deploymentRecord is the part of the server's deployment record the CLI shows.
type deploymentRecord struct {
	DeploymentId                                 int64
	EndpointName, Status, Phase, Strategy        string
	OldEndpointConfigName, NewEndpointConfigName string
	TrafficSteps                                 []float64
	WaitIntervalInSeconds                        float64
	TerminationWaitInSeconds                     float64
	Alarms                                       []string
	Step                                         int
	NewTrafficPercent                            float64
	PhaseEndsAt                                  time.Time
	StartTime, EndTime                           time.Time
	FailureReason                                string
	Rollback                                     *struct {
		Trigger           string
		ReactionMillis    float64
		NewTrafficPercent float64
	}
	Events []struct {
		Time              time.Time
		Type              string
		Step              int
		NewTrafficPercent float64
		Message           string
		Alarms            []struct {
			AlarmName, State, Metric string
			Value                    *float64
			Threshold                float64
		}
		Fleets []struct {
			Fleet                                                 string
			Invocations, Invocation4XXErrors, Invocation5XXErrors uint64
			ModelLatencyP99Micros                                 float64
		}
	}
}

func (c *conn) deployments(ctx context.Context, endpoint string, limit int) ([]deploymentRecord, error) {
	var page struct{ Deployments []deploymentRecord }
	err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/endpoints/%s/deployments?limit=%d", url.PathEscape(endpoint), limit), nil, &page)
	return page.Deployments, err
}

// parseCapacity reads "10%" as CAPACITY_PERCENT 10 and "2" as INSTANCE_COUNT 2.
func parseCapacity(flag, s string) (*types.CapacitySize, error) {
	typ := types.CapacitySizeTypeInstanceCount
	if p, ok := strings.CutSuffix(s, "%"); ok {
		typ, s = types.CapacitySizeTypeCapacityPercent, p
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("--%s %q: give a percentage of the fleet (10%%) or a number of instances (2)", flag, s)
	}
	return &types.CapacitySize{Type: typ, Value: aws.Int32(int32(n))}, nil
}

func seconds(flag string, d time.Duration) (*int32, error) {
	if d < 0 || d%time.Second != 0 {
		return nil, fmt.Errorf("--%s %s: give whole seconds (60s, 2m)", flag, d)
	}
	return aws.Int32(int32(d / time.Second)), nil
}

// updateFlags are the options of `endpoints update`.
type updateFlags struct {
	config, canary, linear, rolling string
	rollbackBatch                   string
	wait, bake, timeout             time.Duration
	alarms                          []string
	retain, follow                  bool
	followTimeout                   time.Duration
}

// deploymentConfig builds UpdateEndpoint's DeploymentConfig from the flags.
func (f *updateFlags) deploymentConfig() (*types.DeploymentConfig, error) {
	set := 0
	for _, s := range []string{f.canary, f.linear, f.rolling} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return nil, errors.New("give at most one of --canary, --linear and --rolling")
	}
	wait, err := seconds("wait", f.wait)
	if err != nil {
		return nil, err
	}
	dc := &types.DeploymentConfig{}
	var timeout *int32
	if f.timeout > 0 {
		if timeout, err = seconds("timeout", f.timeout); err != nil {
			return nil, err
		}
	}
	if f.rolling != "" {
		batch, err := parseCapacity("rolling", f.rolling)
		if err != nil {
			return nil, err
		}
		dc.RollingUpdatePolicy = &types.RollingUpdatePolicy{MaximumBatchSize: batch, WaitIntervalInSeconds: wait, MaximumExecutionTimeoutInSeconds: timeout}
		if f.rollbackBatch != "" {
			if dc.RollingUpdatePolicy.RollbackMaximumBatchSize, err = parseCapacity("rollback-batch", f.rollbackBatch); err != nil {
				return nil, err
			}
		}
	} else {
		if f.rollbackBatch != "" {
			return nil, errors.New("--rollback-batch goes with --rolling: it is how much of the old fleet a rolling update's rollback brings back at a time")
		}
		bake, err := seconds("bake", f.bake)
		if err != nil {
			return nil, err
		}
		tr := &types.TrafficRoutingConfig{Type: types.TrafficRoutingConfigTypeAllAtOnce, WaitIntervalInSeconds: wait}
		switch {
		case f.canary != "":
			tr.Type = types.TrafficRoutingConfigTypeCanary
			if tr.CanarySize, err = parseCapacity("canary", f.canary); err != nil {
				return nil, err
			}
		case f.linear != "":
			tr.Type = types.TrafficRoutingConfigTypeLinear
			if tr.LinearStepSize, err = parseCapacity("linear", f.linear); err != nil {
				return nil, err
			}
		}
		dc.BlueGreenUpdatePolicy = &types.BlueGreenUpdatePolicy{TrafficRoutingConfiguration: tr, TerminationWaitInSeconds: bake, MaximumExecutionTimeoutInSeconds: timeout}
	}
	if len(f.alarms) > 0 {
		dc.AutoRollbackConfiguration = &types.AutoRollbackConfig{}
		for _, a := range f.alarms {
			dc.AutoRollbackConfiguration.Alarms = append(dc.AutoRollbackConfiguration.Alarms, types.Alarm{AlarmName: aws.String(a)})
		}
	}
	return dc, nil
}

func newEndpointsUpdateCmd(g *globals) *cobra.Command {
	var f updateFlags
	cmd := &cobra.Command{
		Use:   "update NAME --config CONFIG [--canary 10% | --linear 25% | --rolling 25%] [--wait 60s] [--bake 120s] [--alarm NAME…]",
		Short: "Move an endpoint to a new config with a safe deployment: canary or linear traffic shifting, bakes, alarm rollback",
		Long: `Update an endpoint to another endpoint config (UpdateEndpoint with a DeploymentConfig). The new
fleet starts while the old one serves; traffic moves all at once, by a canary, in linear steps,
or in rolling batches, with --wait of baking after each step and --bake before the old fleet
stops. If any --alarm enters ALARM meanwhile, every request goes back to the old fleet and the
new one is torn down. The command follows the deployment step by step and exits non-zero if it
was rolled back or failed; ` + "`sluice endpoints history NAME`" + ` shows the record afterwards.`,
		Example: `  sluice endpoints update churn-prod --config churn-v7 --canary 10% --wait 60s --bake 120s --alarm churn-5xx --alarm churn-p99
  sluice endpoints update churn-prod --config churn-v7 --linear 25% --wait 30s
  sluice endpoints update churn-prod --config churn-v7 --rolling 1 --rollback-batch 50% --wait 30s --alarm churn-5xx
  sluice endpoints update churn-prod --config churn-v7      # all at once`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			if f.config == "" {
				return errors.New("--config CONFIG is required: the endpoint config to deploy")
			}
			in := &sagemaker.UpdateEndpointInput{EndpointName: aws.String(name), EndpointConfigName: aws.String(f.config)}
			if f.retain {
				in.RetainDeploymentConfig = aws.Bool(true)
			} else {
				dc, err := f.deploymentConfig()
				if err != nil {
					return err
				}
				in.DeploymentConfig = dc
			}
			conn, err := g.connect(ctx)
			if err != nil {
				return err
			}
			prev, _ := conn.deployments(ctx, name, 1)
			if _, err := conn.sagemaker().UpdateEndpoint(ctx, in); err != nil {
				return err
			}
			if !f.follow {
				fmt.Fprintf(g.stderr, "updating endpoint %s to %s\n", name, f.config)
				return nil
			}
			var after int64
			if len(prev) > 0 {
				after = prev[0].DeploymentId
			}
			rec, err := g.followDeployment(ctx, conn, name, after, f.followTimeout)
			if err != nil {
				return err
			}
			if err := g.emit(rec, func(w *tabwriter.Writer) { printOutcome(w, rec) }); err != nil {
				return err
			}
			if rec.Status != "Succeeded" {
				return fmt.Errorf("deployment %d of %s %s", rec.DeploymentId, name, strings.ToLower(rec.Status))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "endpoint config to deploy")
	fl.StringVar(&f.canary, "canary", "", "canary size: a share of the fleet (10%) or instances (1); then the rest")
	fl.StringVar(&f.linear, "linear", "", "linear step: a share of the fleet (25%) or instances per step")
	fl.StringVar(&f.rolling, "rolling", "", "rolling batch: a share of the fleet (25%) or instances per batch; the old fleet shrinks as the new one grows")
	fl.StringVar(&f.rollbackBatch, "rollback-batch", "", "with --rolling: how much of the old fleet a rollback brings back at a time (RollbackMaximumBatchSize; default all at once)")
	fl.DurationVar(&f.wait, "wait", 0, "bake after each traffic step (WaitIntervalInSeconds)")
	fl.DurationVar(&f.bake, "bake", 0, "final bake with all traffic on the new fleet before the old one stops (TerminationWaitInSeconds)")
	fl.DurationVar(&f.timeout, "timeout", 0, "MaximumExecutionTimeoutInSeconds (10m to 8h); the deployment rolls back if it runs longer")
	fl.StringArrayVar(&f.alarms, "alarm", nil, "alarm that rolls the deployment back when it enters ALARM (repeatable)")
	fl.BoolVar(&f.retain, "retain-deployment-config", false, "reuse the endpoint's last DeploymentConfig instead of the flags")
	fl.BoolVar(&f.follow, "follow", true, "follow the deployment until it ends")
	fl.DurationVar(&f.followTimeout, "follow-timeout", 8*time.Hour, "how long to follow")
	return cmd
}

// followDeployment prints the events of the endpoint's deployment newer than after as they
// happen, and returns its record once it ends.
func (g *globals) followDeployment(ctx context.Context, conn *conn, name string, after int64, timeout time.Duration) (deploymentRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	shown := 0
	for {
		ds, err := conn.deployments(ctx, name, 1)
		if err != nil {
			return deploymentRecord{}, err
		}
		if len(ds) == 1 && ds[0].DeploymentId > after {
			rec := ds[0]
			for _, e := range rec.Events[min(shown, len(rec.Events)):] {
				fmt.Fprintf(g.stderr, "%s  %-16s %5.1f%% new  %s\n", e.Time.Local().Format("15:04:05.000"), e.Type, e.NewTrafficPercent, e.Message)
			}
			shown = len(rec.Events)
			if rec.Status != "InProgress" {
				return rec, nil
			}
		}
		select {
		case <-ctx.Done():
			return deploymentRecord{}, fmt.Errorf("endpoint %s: the deployment was still running after %s (it goes on; follow it with `sluice endpoints watch %s`)", name, timeout, name)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func printOutcome(w *tabwriter.Writer, r deploymentRecord) {
	fmt.Fprintf(w, "Deployment:\t%d\n", r.DeploymentId)
	fmt.Fprintf(w, "Outcome:\t%s\n", r.Status)
	fmt.Fprintf(w, "From → to:\t%s → %s\n", r.OldEndpointConfigName, r.NewEndpointConfigName)
	fmt.Fprintf(w, "Strategy:\t%s %s\n", r.Strategy, stepsLabel(r.TrafficSteps))
	if !r.EndTime.IsZero() {
		fmt.Fprintf(w, "Took:\t%s\n", r.EndTime.Sub(r.StartTime).Round(time.Millisecond))
	}
	if r.Rollback != nil {
		fmt.Fprintf(w, "Rolled back by:\t%s, at %g%% on the new fleet, traffic restored %.1f ms after the alarm\n", r.Rollback.Trigger, r.Rollback.NewTrafficPercent, r.Rollback.ReactionMillis)
	}
	if r.FailureReason != "" {
		fmt.Fprintf(w, "Reason:\t%s\n", r.FailureReason)
	}
}

func stepsLabel(steps []float64) string {
	var parts []string
	for _, s := range steps {
		parts = append(parts, fmt.Sprintf("%g%%", s))
	}
	return strings.Join(parts, " → ")
}

func newEndpointsHistoryCmd(g *globals) *cobra.Command {
	var id int64
	var limit int
	cmd := &cobra.Command{
		Use:   "history NAME [--id DEPLOYMENT]",
		Short: "Show an endpoint's deployments: configs, strategy, outcome, and with --id every step with its alarms and traffic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			conn, err := g.connect(ctx)
			if err != nil {
				return err
			}
			if id > 0 {
				var r deploymentRecord
				if err := conn.do(ctx, "GET", fmt.Sprintf("/api/v1/endpoints/%s/deployments/%d", url.PathEscape(name), id), nil, &r); err != nil {
					return err
				}
				return g.emit(r, func(w *tabwriter.Writer) { printRecord(w, r) })
			}
			ds, err := conn.deployments(ctx, name, limit)
			if err != nil {
				return err
			}
			return g.emit(map[string]any{"Deployments": ds}, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tSTARTED\tTOOK\tFROM\tTO\tSTRATEGY\tOUTCOME\tREASON")
				for _, r := range ds {
					took := "-"
					if !r.EndTime.IsZero() {
						took = r.EndTime.Sub(r.StartTime).Round(time.Millisecond).String()
					}
					outcome := r.Status
					if r.Status == "InProgress" {
						outcome = fmt.Sprintf("%s (%s, %g%% new)", r.Status, r.Phase, r.NewTrafficPercent)
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s %s\t%s\t%s\n", r.DeploymentId, r.StartTime.Local().Format(time.DateTime), took,
						r.OldEndpointConfigName, r.NewEndpointConfigName, r.Strategy, stepsLabel(r.TrafficSteps), outcome, truncateName(r.FailureReason, 100))
				}
			})
		},
	}
	cmd.Flags().Int64Var(&id, "id", 0, "show one deployment step by step")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many deployments to list, newest first")
	return cmd
}

func printRecord(w *tabwriter.Writer, r deploymentRecord) {
	printOutcome(w, r)
	fmt.Fprintf(w, "Waits:\t%gs after each step, %gs before the old fleet stops\n", r.WaitIntervalInSeconds, r.TerminationWaitInSeconds)
	if len(r.Alarms) > 0 {
		fmt.Fprintf(w, "Alarms:\t%s\n", strings.Join(r.Alarms, ", "))
	}
	fmt.Fprintln(w, "\nTIME\tEVENT\tNEW %\tALARMS\tOLD FLEET req/5xx/p99µs\tNEW FLEET req/5xx/p99µs\tMESSAGE")
	for _, e := range r.Events {
		var alarms []string
		for _, a := range e.Alarms {
			s := a.AlarmName + "=" + a.State
			if a.Value != nil {
				s += fmt.Sprintf("(%.4g/%.4g)", *a.Value, a.Threshold)
			}
			alarms = append(alarms, s)
		}
		fleets := map[string]string{"old": "-", "new": "-"}
		for _, f := range e.Fleets {
			fleets[f.Fleet] = fmt.Sprintf("%d/%d/%.0f", f.Invocations, f.Invocation5XXErrors, f.ModelLatencyP99Micros)
		}
		fmt.Fprintf(w, "%s\t%s\t%g\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("15:04:05.000"), e.Type, e.NewTrafficPercent,
			dash(strings.Join(alarms, " ")), fleets["old"], fleets["new"], e.Message)
	}
}

func newEndpointsWatchCmd(g *globals) *cobra.Command {
	var interval time.Duration
	var untilIdle bool
	cmd := &cobra.Command{
		Use:   "watch NAME",
		Short: "Follow an endpoint live: status, traffic split between the old and new fleet, alarm states, traffic per variant",
		Long: `Print a line whenever the endpoint's status, its deployment's step or traffic split, or a
rollback alarm's state changes, with the requests each variant has served. Runs until
interrupted, or with --until-idle until no deployment is in progress.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			conn, err := g.connect(ctx)
			if err != nil {
				return err
			}
			cw := cloudwatch.NewFromConfig(conn.aws, func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(conn.endpoint) })
			last := ""
			for {
				line, busy, err := watchLine(ctx, conn, cw, name)
				if err != nil {
					return err
				}
				if line != last {
					fmt.Fprintf(g.stdout, "%s  %s\n", time.Now().Format("15:04:05.000"), line)
					last = line
				}
				if untilIdle && !busy {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", 500*time.Millisecond, "how often to look")
	cmd.Flags().BoolVar(&untilIdle, "until-idle", false, "stop once no deployment is in progress")
	return cmd
}

// watchLine describes the endpoint now; busy reports a deployment in progress.
func watchLine(ctx context.Context, conn *conn, cw *cloudwatch.Client, name string) (string, bool, error) {
	d, err := conn.sagemaker().DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(name)})
	if err != nil {
		return "", false, err
	}
	parts := []string{fmt.Sprintf("%-12s config %s", d.EndpointStatus, aws.ToString(d.EndpointConfigName))}
	ds, err := conn.deployments(ctx, name, 1)
	if err != nil {
		return "", false, err
	}
	busy := false
	if len(ds) == 1 && ds[0].Status == "InProgress" {
		r := ds[0]
		busy = true
		split := fmt.Sprintf("%s %g%% old / %g%% new", r.NewEndpointConfigName, 100-r.NewTrafficPercent, r.NewTrafficPercent)
		step := fmt.Sprintf("%s %s", r.Strategy, r.Phase)
		if r.Step >= 0 {
			step += fmt.Sprintf(" step %d/%d", r.Step+1, len(r.TrafficSteps))
		}
		parts = append(parts, "→ "+split, step)
		if len(r.Alarms) > 0 {
			out, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: r.Alarms})
			if err != nil {
				return "", false, err
			}
			var states []string
			for _, a := range out.MetricAlarms {
				states = append(states, aws.ToString(a.AlarmName)+"="+string(a.StateValue))
			}
			parts = append(parts, "alarms "+strings.Join(states, " "))
		}
	} else if len(ds) == 1 && ds[0].Status != "Succeeded" && d.FailureReason != nil {
		parts = append(parts, fmt.Sprintf("last deployment %s: %s", strings.ToLower(ds[0].Status), truncateName(aws.ToString(d.FailureReason), 120)))
	}
	var m endpointMetrics
	if err := conn.do(ctx, "GET", "/api/v1/endpoints/"+url.PathEscape(name)+"/metrics", nil, &m); err == nil {
		var vs []string
		for _, v := range m.Variants {
			vs = append(vs, fmt.Sprintf("%s %d req %d 5xx", v.VariantName, v.Invocations, v.Invocation5XXErrors))
		}
		parts = append(parts, strings.Join(vs, ", "))
	}
	return strings.Join(parts, " | "), busy, nil
}
