package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/spf13/cobra"

	"github.com/sluice-ml/sluice/internal/algo"
)

func init() { addCommands(jobsCommands) }

func jobsCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{newJobsCmd(g), newAlgoCmd(g)}
}

// newAlgoCmd runs a built-in image; the job runtime starts it as `sluice algo <name> <mode>`.
func newAlgoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:                "algo NAME [ARGS...]",
		Short:              "Run a built-in image (started by the job runtime)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The runtime starts built-in images as `sluice algo <name> <mode>`, the way docker
			// passes train or serve; processing images take no mode word.
			if len(args) >= 2 && args[1] == "process" {
				args = append([]string{args[0]}, args[2:]...)
			}
			if err := algo.Main(cmd.Context(), args, g.stdout, g.stderr); err != nil {
				if errors.Is(err, algo.ErrUsage) {
					return exitError{code: 2}
				}
				return err
			}
			return nil
		},
	}
}

// jobRow is one job in `jobs list`.
type jobRow struct {
	Name            string     `json:"Name"`
	Kind            string     `json:"Kind"`
	Status          string     `json:"Status"`
	SecondaryStatus string     `json:"SecondaryStatus,omitempty"`
	FailureReason   string     `json:"FailureReason,omitempty"`
	CreationTime    *time.Time `json:"CreationTime,omitempty"`
	EndTime         *time.Time `json:"EndTime,omitempty"`
	Arn             string     `json:"Arn"`
}

func newJobsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List, describe, follow and stop processing and training jobs",
	}
	var kind string
	kindFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&kind, "kind", "", "processing, training or transform (needed only when several kinds have a job of that name)")
	}

	var status, contains string
	var max int
	list := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkKind(kind); err != nil {
				return err
			}
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			rows, err := listJobs(cmd.Context(), sm, kind, status, contains, max)
			if err != nil {
				return err
			}
			return g.emit(rows, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tKIND\tSTATUS\tDETAIL\tCREATED\tDURATION")
				for _, r := range rows {
					detail := r.SecondaryStatus
					if r.FailureReason != "" {
						detail = oneLine(r.FailureReason, 60)
					}
					if detail == "" || detail == r.Status {
						detail = "-"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Kind, r.Status, detail, fmtTime(r.CreationTime), duration(r.CreationTime, r.EndTime))
				}
			})
		},
	}
	list.Flags().StringVar(&status, "status", "", "only jobs in this status (InProgress, Completed, Failed, Stopping, Stopped)")
	list.Flags().StringVar(&contains, "name-contains", "", "only jobs whose name contains this text")
	list.Flags().IntVar(&max, "max", 50, "show at most this many jobs of each kind")
	kindFlag(list)

	describe := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a job: status, timeline, inputs, outputs, model and metrics",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			k, p, t, err := describeJob(cmd.Context(), sm, args[0], kind)
			if err != nil {
				return err
			}
			if k == "processing" {
				return g.emit(sdkJSON(p), func(w *tabwriter.Writer) { printProcessing(w, p) })
			}
			return g.emit(sdkJSON(t), func(w *tabwriter.Writer) { printTraining(w, t) })
		},
	}
	kindFlag(describe)

	var follow bool
	logs := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a job's log (stdout and stderr of its container); -f follows it until the job ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkKind(kind); err != nil {
				return err
			}
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			return streamLogs(cmd.Context(), c, g, args[0], kind, follow)
		},
	}
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing until the job ends")
	kindFlag(logs)

	stop := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a job: SIGTERM to its processes, SIGKILL after the grace period",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			k, _, _, err := describeJob(cmd.Context(), sm, args[0], kind)
			if err != nil {
				return err
			}
			if k == "processing" {
				_, err = sm.StopProcessingJob(cmd.Context(), &sagemaker.StopProcessingJobInput{ProcessingJobName: aws.String(args[0])})
			} else {
				_, err = sm.StopTrainingJob(cmd.Context(), &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String(args[0])})
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "Stopping %s job %s; `sluice jobs describe %s` shows when it has stopped.\n", k, args[0], args[0])
			return nil
		},
	}
	kindFlag(stop)

	cmd.AddCommand(list, describe, logs, stop)
	return cmd
}

func checkKind(kind string) error {
	switch kind {
	case "", "processing", "training", "transform":
		return nil
	}
	return fmt.Errorf("--kind %q: expected processing, training or transform", kind)
}

// listJobs lists both kinds (or one) through SageMaker's List operations and merges them.
func listJobs(ctx context.Context, sm *sagemaker.Client, kind, status, contains string, max int) ([]jobRow, error) {
	rows := []jobRow{}
	desc := types.SortOrderDescending
	if kind == "" || kind == "processing" {
		in := &sagemaker.ListProcessingJobsInput{SortOrder: desc, StatusEquals: types.ProcessingJobStatus(status)}
		if contains != "" {
			in.NameContains = aws.String(contains)
		}
		p := sagemaker.NewListProcessingJobsPaginator(sm, in)
		for n := 0; p.HasMorePages() && n < max; {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, s := range page.ProcessingJobSummaries {
				if n++; n > max {
					break
				}
				rows = append(rows, jobRow{Name: aws.ToString(s.ProcessingJobName), Kind: "processing", Status: string(s.ProcessingJobStatus),
					FailureReason: aws.ToString(s.FailureReason), CreationTime: s.CreationTime, EndTime: s.ProcessingEndTime, Arn: aws.ToString(s.ProcessingJobArn)})
			}
		}
	}
	if kind == "" || kind == "training" {
		in := &sagemaker.ListTrainingJobsInput{SortOrder: desc, StatusEquals: types.TrainingJobStatus(status)}
		if contains != "" {
			in.NameContains = aws.String(contains)
		}
		p := sagemaker.NewListTrainingJobsPaginator(sm, in)
		for n := 0; p.HasMorePages() && n < max; {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, s := range page.TrainingJobSummaries {
				if n++; n > max {
					break
				}
				rows = append(rows, jobRow{Name: aws.ToString(s.TrainingJobName), Kind: "training", Status: string(s.TrainingJobStatus),
					SecondaryStatus: string(s.SecondaryStatus), CreationTime: s.CreationTime, EndTime: s.TrainingEndTime, Arn: aws.ToString(s.TrainingJobArn)})
			}
		}
	}
	if kind == "" || kind == "transform" {
		in := &sagemaker.ListTransformJobsInput{SortOrder: desc, StatusEquals: types.TransformJobStatus(status)}
		if contains != "" {
			in.NameContains = aws.String(contains)
		}
		p := sagemaker.NewListTransformJobsPaginator(sm, in)
		for n := 0; p.HasMorePages() && n < max; {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, s := range page.TransformJobSummaries {
				if n++; n > max {
					break
				}
				rows = append(rows, jobRow{Name: aws.ToString(s.TransformJobName), Kind: "transform", Status: string(s.TransformJobStatus),
					FailureReason: aws.ToString(s.FailureReason), CreationTime: s.CreationTime, EndTime: s.TransformEndTime, Arn: aws.ToString(s.TransformJobArn)})
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b jobRow) int { return aws.ToTime(b.CreationTime).Compare(aws.ToTime(a.CreationTime)) })
	return rows, nil
}

// describeJob finds the job of either kind with this name.
func describeJob(ctx context.Context, sm *sagemaker.Client, name, kind string) (string, *sagemaker.DescribeProcessingJobOutput, *sagemaker.DescribeTrainingJobOutput, error) {
	if err := checkKind(kind); err != nil {
		return "", nil, nil, err
	}
	if kind == "transform" {
		return "", nil, nil, fmt.Errorf("transform jobs have their own commands: sluice transform describe %s, sluice transform stop %s", name, name)
	}
	var p *sagemaker.DescribeProcessingJobOutput
	var t *sagemaker.DescribeTrainingJobOutput
	if kind == "" || kind == "processing" {
		out, err := sm.DescribeProcessingJob(ctx, &sagemaker.DescribeProcessingJobInput{ProcessingJobName: aws.String(name)})
		if err != nil && !notFound(err) {
			return "", nil, nil, err
		}
		p = out
	}
	if kind == "" || kind == "training" {
		out, err := sm.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(name)})
		if err != nil && !notFound(err) {
			return "", nil, nil, err
		}
		t = out
	}
	switch {
	case p != nil && t != nil:
		return "", nil, nil, fmt.Errorf("both a processing and a training job are named %s; pass --kind processing or --kind training", name)
	case p != nil:
		return "processing", p, nil, nil
	case t != nil:
		return "training", nil, t, nil
	case kind != "":
		return "", nil, nil, fmt.Errorf("no %s job is named %s", kind, name)
	}
	return "", nil, nil, fmt.Errorf("no processing or training job is named %s (see `sluice jobs list`; for a transform job, `sluice transform describe %s`)", name, name)
}

// notFound recognises SageMaker's answer for a missing job.
func notFound(err error) bool {
	msg := apiErrorMessage(err)
	return strings.Contains(msg, "Requested resource not found") || strings.HasPrefix(msg, "ResourceNotFound")
}

// sdkJSON turns an SDK output into plain JSON for --output json, without the SDK's metadata.
func sdkJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return v
	}
	delete(m, "ResultMetadata")
	return m
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func duration(start, end *time.Time) string {
	if start == nil {
		return "-"
	}
	e := time.Now()
	if end != nil {
		e = *end
	}
	return e.Sub(*start).Round(time.Second).String()
}

func kv(w io.Writer, k, v string) {
	if v != "" {
		fmt.Fprintf(w, "%s:\t%s\n", k, v)
	}
}

func printProcessing(w *tabwriter.Writer, p *sagemaker.DescribeProcessingJobOutput) {
	kv(w, "Name", aws.ToString(p.ProcessingJobName))
	kv(w, "Kind", "processing")
	kv(w, "ARN", aws.ToString(p.ProcessingJobArn))
	kv(w, "Status", string(p.ProcessingJobStatus))
	kv(w, "Failure reason", aws.ToString(p.FailureReason))
	kv(w, "Exit message", aws.ToString(p.ExitMessage))
	if p.AppSpecification != nil {
		kv(w, "Image", aws.ToString(p.AppSpecification.ImageUri))
		kv(w, "Entrypoint", strings.Join(p.AppSpecification.ContainerEntrypoint, " "))
		kv(w, "Arguments", strings.Join(p.AppSpecification.ContainerArguments, " "))
	}
	kv(w, "Created", fmtTime(p.CreationTime))
	if p.ProcessingStartTime != nil {
		kv(w, "Started", fmtTime(p.ProcessingStartTime))
	}
	if p.ProcessingEndTime != nil {
		kv(w, "Ended", fmtTime(p.ProcessingEndTime))
		kv(w, "Duration", duration(p.ProcessingStartTime, p.ProcessingEndTime))
	}
	for _, in := range p.ProcessingInputs {
		if in.S3Input != nil {
			kv(w, "Input "+aws.ToString(in.InputName), aws.ToString(in.S3Input.S3Uri)+" -> "+aws.ToString(in.S3Input.LocalPath))
		}
	}
	if p.ProcessingOutputConfig != nil {
		for _, o := range p.ProcessingOutputConfig.Outputs {
			if o.S3Output != nil {
				kv(w, "Output "+aws.ToString(o.OutputName), aws.ToString(o.S3Output.LocalPath)+" -> "+aws.ToString(o.S3Output.S3Uri))
			}
		}
	}
}

func printTraining(w *tabwriter.Writer, t *sagemaker.DescribeTrainingJobOutput) {
	kv(w, "Name", aws.ToString(t.TrainingJobName))
	kv(w, "Kind", "training")
	kv(w, "ARN", aws.ToString(t.TrainingJobArn))
	kv(w, "Status", string(t.TrainingJobStatus)+" ("+string(t.SecondaryStatus)+")")
	kv(w, "Failure reason", aws.ToString(t.FailureReason))
	if t.AlgorithmSpecification != nil {
		kv(w, "Image", aws.ToString(t.AlgorithmSpecification.TrainingImage))
	}
	kv(w, "Created", fmtTime(t.CreationTime))
	if t.TrainingStartTime != nil {
		kv(w, "Started", fmtTime(t.TrainingStartTime))
	}
	if t.TrainingEndTime != nil {
		kv(w, "Ended", fmtTime(t.TrainingEndTime))
	}
	if t.TrainingTimeInSeconds != nil {
		kv(w, "Training time", (time.Duration(*t.TrainingTimeInSeconds) * time.Second).String())
	}
	for _, c := range t.InputDataConfig {
		if c.DataSource != nil && c.DataSource.S3DataSource != nil {
			kv(w, "Channel "+aws.ToString(c.ChannelName), aws.ToString(c.DataSource.S3DataSource.S3Uri))
		}
	}
	if t.ModelArtifacts != nil {
		kv(w, "Model", aws.ToString(t.ModelArtifacts.S3ModelArtifacts))
	}
	for _, m := range t.FinalMetricDataList {
		kv(w, "Metric "+aws.ToString(m.MetricName), fmt.Sprint(aws.ToFloat32(m.Value)))
	}
	for _, tr := range t.SecondaryStatusTransitions {
		kv(w, "  "+fmtTime(tr.StartTime), string(tr.Status)+"  "+aws.ToString(tr.StatusMessage))
	}
}

// streamLogs prints a job's log from the native API. While following, a dropped connection
// (a server restart) is resumed from the last byte printed.
func streamLogs(ctx context.Context, c *conn, g *globals, name, kind string, follow bool) error {
	var offset int64
	for attempt := 0; ; attempt++ {
		q := url.Values{}
		if follow {
			q.Set("follow", "1")
		}
		if kind != "" {
			q.Set("kind", kind)
		}
		if offset > 0 {
			q.Set("offset", fmt.Sprint(offset))
		}
		resp, err := c.send(ctx, "GET", "/api/v1/jobs/"+url.PathEscape(name)+"/logs?"+q.Encode(), nil)
		if err != nil {
			if follow && attempt < 30 && ctx.Err() == nil && strings.Contains(err.Error(), "cannot reach the server") {
				time.Sleep(time.Second)
				continue
			}
			return err
		}
		n, err := io.Copy(g.stdout, resp.Body)
		resp.Body.Close()
		offset += n
		if err == nil || !follow || ctx.Err() != nil {
			if err != nil && ctx.Err() != nil {
				return nil
			}
			return err
		}
		fmt.Fprintf(g.stderr, "[sluice] the log stream broke (%v); resuming\n", err)
		time.Sleep(time.Second)
	}
}
