package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/spf13/cobra"
)

func init() { addCommands(newAlarmsCmds) }

// cloudwatch connects and returns a CloudWatch client for the server. The SDK speaks
// CloudWatch's RPC v2 CBOR protocol and signs as "monitoring", so every alarms command is also
// a wire-compatibility check.
func (g *globals) cloudwatch(ctx context.Context) (*cloudwatch.Client, error) {
	c, err := g.connect(ctx)
	if err != nil {
		return nil, err
	}
	return cloudwatch.NewFromConfig(c.aws, func(o *cloudwatch.Options) {
		o.BaseEndpoint = aws.String(c.endpoint)
	}), nil
}

func newAlarmsCmds(g *globals) []*cobra.Command {
	cmd := &cobra.Command{
		Use:   "alarms",
		Short: "Metric alarms that deployments watch (CloudWatch-compatible)",
		Long: `Metric alarms over endpoint metrics (Invocations, Invocation4XXErrors, Invocation5XXErrors,
Invocation4XXErrorRate, Invocation5XXErrorRate, ModelLatency and OverheadLatency in microseconds)
and custom metrics. They are CloudWatch alarms: scripts using boto3's cloudwatch client or the AWS
CLI work against the same server, and a deployment's AutoRollbackConfiguration names them.`,
	}
	cmd.AddCommand(newAlarmsCreateCmd(g), newAlarmsListCmd(g), newAlarmsDescribeCmd(g), newAlarmsDeleteCmd(g), newAlarmsSetStateCmd(g))
	return []*cobra.Command{cmd}
}

// alarmFlags are the options of `alarms create`.
type alarmFlags struct {
	metric, namespace, endpoint, variant string
	dimensions                           []string
	statistic, period                    string
	evaluationPeriods, datapoints        int32
	threshold                            float64
	comparison, missing                  string
	description, unit                    string
}

func newAlarmsCreateCmd(g *globals) *cobra.Command {
	var f alarmFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create or replace a metric alarm",
		Example: `  sluice alarms create churn-5xx --metric Invocation5XXErrors --endpoint churn --variant AllTraffic \
      --statistic Sum --period 10s --threshold 1 --comparison gt --missing notBreaching
  sluice alarms create churn-p99 --metric ModelLatency --endpoint churn --variant AllTraffic \
      --statistic p99 --period 30s --evaluation-periods 3 --datapoints 2 --threshold 250000 --comparison ge`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := f.input(args[0])
			if err != nil {
				return err
			}
			c, err := g.cloudwatch(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.PutMetricAlarm(cmd.Context(), in); err != nil {
				return err
			}
			out, err := c.DescribeAlarms(cmd.Context(), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{args[0]}})
			if err != nil {
				return err
			}
			if len(out.MetricAlarms) == 0 {
				return fmt.Errorf("alarm %s was put but is not listed", args[0])
			}
			return g.emitAlarms(out.MetricAlarms)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.metric, "metric", "", "metric name, e.g. Invocation5XXErrors, ModelLatency (required)")
	fl.StringVar(&f.namespace, "namespace", "AWS/SageMaker", "metric namespace")
	fl.StringVar(&f.endpoint, "endpoint", "", "endpoint name (sets the EndpointName dimension)")
	fl.StringVar(&f.variant, "variant", "", "variant name (sets the VariantName dimension; without it the alarm watches the endpoint as a whole)")
	fl.StringSliceVar(&f.dimensions, "dimension", nil, "extra dimension NAME=VALUE (repeatable)")
	fl.StringVar(&f.statistic, "statistic", "Average", "Sum, Average, SampleCount, Minimum, Maximum or a percentile such as p99 or p99.9")
	fl.StringVar(&f.period, "period", "60s", "period length: a duration in whole seconds (10s, 1m) or a number of seconds")
	fl.Int32Var(&f.evaluationPeriods, "evaluation-periods", 1, "N: how many recent periods are evaluated")
	fl.Int32Var(&f.datapoints, "datapoints", 0, "M: how many of the N periods must breach (default N)")
	fl.Float64Var(&f.threshold, "threshold", 0, "threshold the statistic is compared with (required)")
	fl.StringVar(&f.comparison, "comparison", "gt", "gt, ge, lt or le (or CloudWatch's GreaterThanThreshold, …)")
	fl.StringVar(&f.missing, "missing", "missing", "how missing data counts: missing, ignore, breaching or notBreaching")
	fl.StringVar(&f.description, "description", "", "alarm description")
	fl.StringVar(&f.unit, "unit", "", "only consider data in this unit (e.g. Microseconds)")
	cmd.MarkFlagRequired("metric")
	cmd.MarkFlagRequired("threshold")
	return cmd
}

var comparisons = map[string]types.ComparisonOperator{
	"gt": types.ComparisonOperatorGreaterThanThreshold, ">": types.ComparisonOperatorGreaterThanThreshold,
	"ge": types.ComparisonOperatorGreaterThanOrEqualToThreshold, ">=": types.ComparisonOperatorGreaterThanOrEqualToThreshold,
	"lt": types.ComparisonOperatorLessThanThreshold, "<": types.ComparisonOperatorLessThanThreshold,
	"le": types.ComparisonOperatorLessThanOrEqualToThreshold, "<=": types.ComparisonOperatorLessThanOrEqualToThreshold,
}

// comparisonSymbols print an operator in tables.
var comparisonSymbols = map[types.ComparisonOperator]string{
	types.ComparisonOperatorGreaterThanThreshold:          ">",
	types.ComparisonOperatorGreaterThanOrEqualToThreshold: ">=",
	types.ComparisonOperatorLessThanThreshold:             "<",
	types.ComparisonOperatorLessThanOrEqualToThreshold:    "<=",
}

// parsePeriod reads "10s", "1m" or "10" as whole seconds.
func parsePeriod(s string) (int32, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return 0, fmt.Errorf("--period %s: must be at least 1 second", s)
		}
		return int32(n), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d%time.Second != 0 || d > 24*time.Hour {
		return 0, fmt.Errorf("--period %q: expected whole seconds from 1s to 24h, e.g. 10s, 30s or 1m", s)
	}
	return int32(d / time.Second), nil
}

func (f *alarmFlags) input(name string) (*cloudwatch.PutMetricAlarmInput, error) {
	period, err := parsePeriod(f.period)
	if err != nil {
		return nil, err
	}
	cmp, ok := comparisons[strings.ToLower(f.comparison)]
	if !ok {
		cmp = types.ComparisonOperator(f.comparison)
		if _, known := comparisonSymbols[cmp]; !known {
			return nil, fmt.Errorf("--comparison %q: expected gt, ge, lt or le", f.comparison)
		}
	}
	var dims []types.Dimension
	if f.endpoint != "" {
		dims = append(dims, types.Dimension{Name: aws.String("EndpointName"), Value: aws.String(f.endpoint)})
	}
	if f.variant != "" {
		if f.endpoint == "" {
			return nil, fmt.Errorf("--variant needs --endpoint")
		}
		dims = append(dims, types.Dimension{Name: aws.String("VariantName"), Value: aws.String(f.variant)})
	}
	for _, d := range f.dimensions {
		k, v, ok := strings.Cut(d, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("--dimension %q: expected NAME=VALUE", d)
		}
		dims = append(dims, types.Dimension{Name: aws.String(k), Value: aws.String(v)})
	}
	in := &cloudwatch.PutMetricAlarmInput{
		AlarmName:          aws.String(name),
		Namespace:          aws.String(f.namespace),
		MetricName:         aws.String(f.metric),
		Dimensions:         dims,
		Period:             aws.Int32(period),
		EvaluationPeriods:  aws.Int32(f.evaluationPeriods),
		Threshold:          aws.Float64(f.threshold),
		ComparisonOperator: cmp,
		TreatMissingData:   aws.String(f.missing),
	}
	if strings.HasPrefix(f.statistic, "p") {
		in.ExtendedStatistic = aws.String(f.statistic)
	} else {
		in.Statistic = types.Statistic(f.statistic)
	}
	if f.datapoints > 0 {
		in.DatapointsToAlarm = aws.Int32(f.datapoints)
	}
	if f.description != "" {
		in.AlarmDescription = aws.String(f.description)
	}
	if f.unit != "" {
		in.Unit = types.StandardUnit(f.unit)
	}
	return in, nil
}

// alarmView is an alarm as the CLI prints it in JSON.
type alarmView struct {
	AlarmName          string
	AlarmArn           string
	AlarmDescription   string `json:",omitempty"`
	StateValue         string
	StateReason        string
	StateReasonData    json.RawMessage `json:",omitempty"`
	StateTransitioned  *time.Time
	Namespace          string
	MetricName         string
	Dimensions         map[string]string
	Statistic          string
	Period             int32
	EvaluationPeriods  int32
	DatapointsToAlarm  int32
	Threshold          float64
	ComparisonOperator string
	TreatMissingData   string
	Unit               string `json:",omitempty"`
}

func viewAlarm(a types.MetricAlarm) alarmView {
	v := alarmView{
		AlarmName: aws.ToString(a.AlarmName), AlarmArn: aws.ToString(a.AlarmArn), AlarmDescription: aws.ToString(a.AlarmDescription),
		StateValue: string(a.StateValue), StateReason: aws.ToString(a.StateReason), StateTransitioned: a.StateTransitionedTimestamp,
		Namespace: aws.ToString(a.Namespace), MetricName: aws.ToString(a.MetricName), Dimensions: map[string]string{},
		Statistic: string(a.Statistic), Period: aws.ToInt32(a.Period), EvaluationPeriods: aws.ToInt32(a.EvaluationPeriods),
		DatapointsToAlarm: aws.ToInt32(a.DatapointsToAlarm), Threshold: aws.ToFloat64(a.Threshold),
		ComparisonOperator: string(a.ComparisonOperator), TreatMissingData: aws.ToString(a.TreatMissingData), Unit: string(a.Unit),
	}
	if v.Statistic == "" {
		v.Statistic = aws.ToString(a.ExtendedStatistic)
	}
	if v.DatapointsToAlarm == 0 {
		v.DatapointsToAlarm = v.EvaluationPeriods
	}
	if v.TreatMissingData == "" {
		v.TreatMissingData = "missing"
	}
	if d := aws.ToString(a.StateReasonData); d != "" && json.Valid([]byte(d)) {
		v.StateReasonData = json.RawMessage(d)
	}
	if v.StateTransitioned == nil {
		v.StateTransitioned = a.StateUpdatedTimestamp
	}
	for _, d := range a.Dimensions {
		v.Dimensions[aws.ToString(d.Name)] = aws.ToString(d.Value)
	}
	return v
}

// condition prints an alarm's rule: "Sum(Invocation5XXErrors) > 1 for 1 of 1 × 10s".
func (v alarmView) condition() string {
	sym := comparisonSymbols[types.ComparisonOperator(v.ComparisonOperator)]
	return fmt.Sprintf("%s(%s) %s %s for %d of %d × %s", v.Statistic, v.MetricName, sym, strconv.FormatFloat(v.Threshold, 'g', -1, 64),
		v.DatapointsToAlarm, v.EvaluationPeriods, time.Duration(v.Period)*time.Second)
}

func (g *globals) emitAlarms(alarms []types.MetricAlarm) error {
	views := make([]alarmView, len(alarms))
	for i, a := range alarms {
		views[i] = viewAlarm(a)
	}
	return g.emit(views, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "NAME\tSTATE\tMETRIC\tCONDITION\tSINCE")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.AlarmName, v.StateValue, metricLabel(v), v.condition(), fmtTime(v.StateTransitioned))
		}
	})
}

// metricLabel is the metric and its dimensions, e.g. "Invocations churn/AllTraffic", with the
// namespace when it is not AWS/SageMaker.
func metricLabel(v alarmView) string {
	label := v.MetricName
	if v.Namespace != "AWS/SageMaker" {
		label = v.Namespace + " " + label
	}
	if d := dimensionsLabel(v.Dimensions); d != "" {
		label += " " + d
	}
	return label
}

// dimensionsLabel prints dimensions compactly: "endpoint/variant" for endpoint metrics, then
// NAME=VALUE for the others, sorted.
func dimensionsLabel(dims map[string]string) string {
	var parts []string
	if e := dims["EndpointName"]; e != "" {
		if vn := dims["VariantName"]; vn != "" {
			e += "/" + vn
		}
		parts = append(parts, e)
	}
	var rest []string
	for k, val := range dims {
		if k != "EndpointName" && k != "VariantName" {
			rest = append(rest, k+"="+val)
		}
	}
	slices.Sort(rest)
	return strings.Join(append(parts, rest...), ",")
}

func newAlarmsListCmd(g *globals) *cobra.Command {
	var state, prefix string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List alarms with their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.cloudwatch(cmd.Context())
			if err != nil {
				return err
			}
			in := &cloudwatch.DescribeAlarmsInput{}
			if state != "" {
				in.StateValue = types.StateValue(strings.ToUpper(state))
			}
			if prefix != "" {
				in.AlarmNamePrefix = aws.String(prefix)
			}
			var all []types.MetricAlarm
			p := cloudwatch.NewDescribeAlarmsPaginator(c, in)
			for p.HasMorePages() {
				page, err := p.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				all = append(all, page.MetricAlarms...)
			}
			return g.emitAlarms(all)
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only alarms in this state: OK, ALARM or INSUFFICIENT_DATA")
	cmd.Flags().StringVar(&prefix, "prefix", "", "only alarms whose name starts with this")
	return cmd
}

func newAlarmsDescribeCmd(g *globals) *cobra.Command {
	var limit int32
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show an alarm, its current state and its recent history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.cloudwatch(cmd.Context())
			if err != nil {
				return err
			}
			out, err := c.DescribeAlarms(cmd.Context(), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{args[0]}})
			if err != nil {
				return err
			}
			if len(out.MetricAlarms) == 0 {
				return fmt.Errorf("no alarm named %q (see `sluice alarms list`)", args[0])
			}
			hist, err := c.DescribeAlarmHistory(cmd.Context(), &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(args[0]), MaxRecords: aws.Int32(limit)})
			if err != nil {
				return err
			}
			type entry struct {
				Timestamp *time.Time
				Type      string
				Summary   string
				Data      json.RawMessage `json:",omitempty"`
			}
			doc := struct {
				alarmView
				History []entry
			}{alarmView: viewAlarm(out.MetricAlarms[0])}
			for _, h := range hist.AlarmHistoryItems {
				e := entry{Timestamp: h.Timestamp, Type: string(h.HistoryItemType), Summary: aws.ToString(h.HistorySummary)}
				if d := aws.ToString(h.HistoryData); json.Valid([]byte(d)) {
					e.Data = json.RawMessage(d)
				}
				doc.History = append(doc.History, e)
			}
			v := doc.alarmView
			return g.emit(doc, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Name:\t%s\n", v.AlarmName)
				fmt.Fprintf(w, "ARN:\t%s\n", v.AlarmArn)
				if v.AlarmDescription != "" {
					fmt.Fprintf(w, "Description:\t%s\n", v.AlarmDescription)
				}
				fmt.Fprintf(w, "State:\t%s since %s\n", v.StateValue, fmtTime(v.StateTransitioned))
				fmt.Fprintf(w, "Reason:\t%s\n", v.StateReason)
				fmt.Fprintf(w, "Namespace:\t%s\n", v.Namespace)
				fmt.Fprintf(w, "Metric:\t%s %s\n", v.MetricName, dimensionsLabel(v.Dimensions))
				fmt.Fprintf(w, "Condition:\t%s\n", v.condition())
				fmt.Fprintf(w, "Missing data:\t%s\n", v.TreatMissingData)
				fmt.Fprintln(w)
				fmt.Fprintln(w, "TIME\tTYPE\tSUMMARY")
				for _, h := range doc.History {
					fmt.Fprintf(w, "%s\t%s\t%s\n", fmtTime(h.Timestamp), h.Type, h.Summary)
				}
			})
		},
	}
	cmd.Flags().Int32Var(&limit, "history", 20, "how many history entries to show (1-100)")
	return cmd
}

func newAlarmsDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete alarms (their history is kept)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.cloudwatch(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.DeleteAlarms(cmd.Context(), &cloudwatch.DeleteAlarmsInput{AlarmNames: args}); err != nil {
				return err
			}
			for _, a := range args {
				fmt.Fprintf(g.stderr, "deleted %s\n", a)
			}
			return nil
		},
	}
}

func newAlarmsSetStateCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "set-state NAME OK|ALARM|INSUFFICIENT_DATA",
		Short: "Set an alarm's state by hand, for drills (evaluation restores it at the next period)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.cloudwatch(cmd.Context())
			if err != nil {
				return err
			}
			_, err = c.SetAlarmState(cmd.Context(), &cloudwatch.SetAlarmStateInput{
				AlarmName: aws.String(args[0]), StateValue: types.StateValue(strings.ToUpper(args[1])), StateReason: aws.String(reason),
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "%s set to %s\n", args[0], strings.ToUpper(args[1]))
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "set by hand with sluice alarms set-state", "reason recorded in the state and history")
	return cmd
}
