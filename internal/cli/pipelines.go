package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/spf13/cobra"

	"github.com/sluice-ml/sluice/internal/pipeline"
)

func init() { addCommands(pipelineCommands) }

func pipelineCommands(g *globals) []*cobra.Command {
	cmd := &cobra.Command{
		Use:     "pipelines",
		Aliases: []string{"pipeline"},
		Short:   "Create, run and follow SageMaker pipelines",
	}
	cmd.AddCommand(
		newPipelinesUpsertCmd(g),
		newPipelinesListCmd(g),
		newPipelinesDescribeCmd(g),
		newPipelinesDeleteCmd(g),
		newPipelinesStartCmd(g),
		newPipelinesExecutionsCmd(g),
		newPipelinesStepsCmd(g),
		newPipelinesGraphCmd(g),
		newPipelinesStopCmd(g),
		newPipelinesRetryCmd(g),
		newPipelinesCallbackCmd(g),
	)
	return []*cobra.Command{cmd}
}

// defaultPipelineRole is the RoleArn sent when none is given: SageMaker requires one, and a
// self-hosted server runs every job under the server's own rights.
const defaultPipelineRole = "arn:aws:iam::000000000000:role/SluicePipelines"

var nameFromFileRE = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

// pipelineNameFromFile turns a file name into a pipeline name: abalone_pipeline.json →
// abalone-pipeline.
func pipelineNameFromFile(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return strings.Trim(nameFromFileRE.ReplaceAllString(base, "-"), "-")
}

func newPipelinesUpsertCmd(g *globals) *cobra.Command {
	var file, name, role, description, display string
	var maxParallel int
	cmd := &cobra.Command{
		Use:   "upsert -f FILE [--name NAME]",
		Short: "Create a pipeline from a definition file, or update it if it exists",
		Long: "Create a pipeline from a definition file (the JSON the SageMaker Python SDK writes with\n" +
			"pipeline.definition()), or update the pipeline of that name. The name defaults to the\n" +
			"file's name.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return errors.New("give the definition file with -f FILE")
			}
			def, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			if _, err := pipeline.Parse(def); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if name == "" {
				name = pipelineNameFromFile(file)
			}
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			var par *types.ParallelismConfiguration
			if maxParallel > 0 {
				par = &types.ParallelismConfiguration{MaxParallelExecutionSteps: aws.Int32(int32(maxParallel))}
			}
			ctx := cmd.Context()
			_, err = sm.DescribePipeline(ctx, &sagemaker.DescribePipelineInput{PipelineName: aws.String(name)})
			verb := "Updated"
			var arn string
			var version int64
			switch {
			case err == nil:
				in := &sagemaker.UpdatePipelineInput{PipelineName: aws.String(name), PipelineDefinition: aws.String(string(def)), ParallelismConfiguration: par}
				if role != "" {
					in.RoleArn = aws.String(role)
				}
				if description != "" {
					in.PipelineDescription = aws.String(description)
				}
				if display != "" {
					in.PipelineDisplayName = aws.String(display)
				}
				out, err := sm.UpdatePipeline(ctx, in)
				if err != nil {
					return err
				}
				arn, version = aws.ToString(out.PipelineArn), aws.ToInt64(out.PipelineVersionId)
			case notFound(err):
				verb = "Created"
				if role == "" {
					role = defaultPipelineRole
				}
				in := &sagemaker.CreatePipelineInput{PipelineName: aws.String(name), PipelineDefinition: aws.String(string(def)),
					RoleArn: aws.String(role), ParallelismConfiguration: par}
				if description != "" {
					in.PipelineDescription = aws.String(description)
				}
				if display != "" {
					in.PipelineDisplayName = aws.String(display)
				}
				out, err := sm.CreatePipeline(ctx, in)
				if err != nil {
					return err
				}
				arn, version = aws.ToString(out.PipelineArn), 1
			default:
				return err
			}
			res := map[string]any{"PipelineName": name, "PipelineArn": arn, "PipelineVersionId": version, "Action": strings.ToLower(verb)}
			return g.emit(res, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s pipeline %s (version %d)\n%s\n", verb, name, version, arn)
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the pipeline definition (JSON)")
	cmd.Flags().StringVar(&name, "name", "", "pipeline name (default: the file's name)")
	cmd.Flags().StringVar(&role, "role", "", "RoleArn of the pipeline (default on create: "+defaultPipelineRole+")")
	cmd.Flags().StringVar(&description, "description", "", "pipeline description")
	cmd.Flags().StringVar(&display, "display-name", "", "pipeline display name")
	cmd.Flags().IntVar(&maxParallel, "max-parallel", 0, "MaxParallelExecutionSteps of the pipeline (0: no limit)")
	return cmd
}

func newPipelinesListCmd(g *globals) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List pipelines, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			in := &sagemaker.ListPipelinesInput{MaxResults: aws.Int32(100)}
			if prefix != "" {
				in.PipelineNamePrefix = aws.String(prefix)
			}
			var all []types.PipelineSummary
			for p := sagemaker.NewListPipelinesPaginator(sm, in); p.HasMorePages(); {
				page, err := p.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				all = append(all, page.PipelineSummaries...)
			}
			return g.emit(clean(all), func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tCREATED\tLAST EXECUTION\tDESCRIPTION")
				for _, p := range all {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", aws.ToString(p.PipelineName), fmtTime(p.CreationTime), fmtTime(p.LastExecutionTime), dash(oneLine(aws.ToString(p.PipelineDescription), 50)))
				}
			})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "only pipelines whose name starts with this")
	return cmd
}

func newPipelinesDescribeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a pipeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			p, err := sm.DescribePipeline(cmd.Context(), &sagemaker.DescribePipelineInput{PipelineName: aws.String(args[0])})
			if err != nil {
				return err
			}
			return g.emit(clean(p), func(w *tabwriter.Writer) {
				kv(w, "Name", aws.ToString(p.PipelineName))
				kv(w, "ARN", aws.ToString(p.PipelineArn))
				kv(w, "Status", string(p.PipelineStatus))
				kv(w, "Description", aws.ToString(p.PipelineDescription))
				kv(w, "Role", aws.ToString(p.RoleArn))
				kv(w, "Created", fmtTime(p.CreationTime))
				kv(w, "Modified", fmtTime(p.LastModifiedTime))
				kv(w, "Last run", fmtTime(p.LastRunTime))
				if p.ParallelismConfiguration != nil {
					kv(w, "Max parallel steps", fmt.Sprint(aws.ToInt32(p.ParallelismConfiguration.MaxParallelExecutionSteps)))
				}
				if def, err := pipeline.Parse([]byte(aws.ToString(p.PipelineDefinition))); err == nil {
					var params []string
					for _, prm := range def.Parameters {
						d, _ := prm.Default()
						s, _ := pipeline.FormatValue(d)
						params = append(params, fmt.Sprintf("%s=%s", prm.Name, s))
					}
					kv(w, "Parameters", strings.Join(params, " "))
					kv(w, "Steps", strings.Join(def.Graph().Order(), " → "))
				}
			})
		},
	}
}

func newPipelinesDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a pipeline and the records of its executions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			out, err := sm.DeletePipeline(cmd.Context(), &sagemaker.DeletePipelineInput{PipelineName: aws.String(args[0])})
			if err != nil {
				return err
			}
			return g.emit(clean(out), func(w *tabwriter.Writer) { fmt.Fprintf(w, "Deleted %s\n", aws.ToString(out.PipelineArn)) })
		},
	}
}

// parseParams reads Key=Value pairs.
func parseParams(pairs []string) ([]types.Parameter, error) {
	var out []types.Parameter
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("parameter %q: expected Name=Value", p)
		}
		out = append(out, types.Parameter{Name: aws.String(k), Value: aws.String(v)})
	}
	return out, nil
}

func newPipelinesStartCmd(g *globals) *cobra.Command {
	var params []string
	var display, description string
	var maxParallel int
	var wait bool
	cmd := &cobra.Command{
		Use:   "start NAME [-p Name=Value…]",
		Short: "Start an execution of a pipeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := parseParams(params)
			if err != nil {
				return err
			}
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			in := &sagemaker.StartPipelineExecutionInput{PipelineName: aws.String(args[0]), PipelineParameters: ps}
			if display != "" {
				in.PipelineExecutionDisplayName = aws.String(display)
			}
			if description != "" {
				in.PipelineExecutionDescription = aws.String(description)
			}
			if maxParallel > 0 {
				in.ParallelismConfiguration = &types.ParallelismConfiguration{MaxParallelExecutionSteps: aws.Int32(int32(maxParallel))}
			}
			out, err := sm.StartPipelineExecution(cmd.Context(), in)
			if err != nil {
				return err
			}
			arn := aws.ToString(out.PipelineExecutionArn)
			if wait {
				return watchSteps(cmd.Context(), g, sm, arn)
			}
			return g.emit(clean(out), func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Started %s\nFollow it with: sluice pipelines steps %s --watch\n", arn, arn)
			})
		},
	}
	cmd.Flags().StringArrayVarP(&params, "param", "p", nil, "a pipeline parameter as Name=Value (repeatable)")
	cmd.Flags().StringVar(&display, "display-name", "", "execution display name")
	cmd.Flags().StringVar(&description, "description", "", "execution description")
	cmd.Flags().IntVar(&maxParallel, "max-parallel", 0, "MaxParallelExecutionSteps for this execution")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "follow the execution until it ends (exit status 1 unless it succeeds)")
	return cmd
}

func newPipelinesExecutionsCmd(g *globals) *cobra.Command {
	var max int
	cmd := &cobra.Command{
		Use:   "executions NAME",
		Short: "List a pipeline's executions, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			var all []types.PipelineExecutionSummary
			p := sagemaker.NewListPipelineExecutionsPaginator(sm, &sagemaker.ListPipelineExecutionsInput{PipelineName: aws.String(args[0]), MaxResults: aws.Int32(100)})
			for p.HasMorePages() && len(all) < max {
				page, err := p.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				all = append(all, page.PipelineExecutionSummaries...)
			}
			if len(all) > max {
				all = all[:max]
			}
			return g.emit(clean(all), func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "EXECUTION\tSTATUS\tSTARTED\tDISPLAY NAME\tFAILURE")
				for _, x := range all {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", lastSegment(aws.ToString(x.PipelineExecutionArn)), x.PipelineExecutionStatus,
						fmtTime(x.StartTime), dash(aws.ToString(x.PipelineExecutionDisplayName)), dash(oneLine(aws.ToString(x.PipelineExecutionFailureReason), 60)))
				}
			})
		},
	}
	cmd.Flags().IntVar(&max, "max", 50, "show at most this many executions")
	return cmd
}

// lastSegment is the part of an ARN after its last slash: an execution's ID, a job's name.
func lastSegment(arn string) string {
	return arn[strings.LastIndexByte(arn, '/')+1:]
}

// resolveExecution accepts an execution ARN, PIPELINE/EXECUTION-ID, or a pipeline name (its
// newest execution).
func resolveExecution(ctx context.Context, sm *sagemaker.Client, ref string) (string, error) {
	if strings.HasPrefix(ref, "arn:") {
		return ref, nil
	}
	name, id, hasID := strings.Cut(ref, "/")
	p, err := sm.DescribePipeline(ctx, &sagemaker.DescribePipelineInput{PipelineName: aws.String(name)})
	if err != nil {
		return "", err
	}
	if hasID {
		return aws.ToString(p.PipelineArn) + "/execution/" + id, nil
	}
	out, err := sm.ListPipelineExecutions(ctx, &sagemaker.ListPipelineExecutionsInput{PipelineName: aws.String(name), MaxResults: aws.Int32(1)})
	if err != nil {
		return "", err
	}
	if len(out.PipelineExecutionSummaries) == 0 {
		return "", fmt.Errorf("pipeline %s has no executions; start one with `sluice pipelines start %s`", name, name)
	}
	return aws.ToString(out.PipelineExecutionSummaries[0].PipelineExecutionArn), nil
}

// listAllSteps returns an execution's steps in the order they started.
func listAllSteps(ctx context.Context, sm *sagemaker.Client, arn string) ([]types.PipelineExecutionStep, error) {
	var all []types.PipelineExecutionStep
	p := sagemaker.NewListPipelineExecutionStepsPaginator(sm, &sagemaker.ListPipelineExecutionStepsInput{
		PipelineExecutionArn: aws.String(arn), SortOrder: types.SortOrderAscending, MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		all = append(all, page.PipelineExecutionSteps...)
	}
	return all, nil
}

// stepDetail is the one-line summary of a step's metadata: its job, outcome, token, message.
func stepDetail(s types.PipelineExecutionStep) string {
	var parts []string
	if m := s.Metadata; m != nil {
		last := func(arn *string) string {
			a := aws.ToString(arn)
			return a[strings.LastIndexByte(a, '/')+1:]
		}
		switch {
		case m.ProcessingJob != nil:
			parts = append(parts, "job "+last(m.ProcessingJob.Arn))
		case m.TrainingJob != nil:
			parts = append(parts, "job "+last(m.TrainingJob.Arn))
		case m.TransformJob != nil:
			parts = append(parts, "job "+last(m.TransformJob.Arn))
		case m.Condition != nil:
			parts = append(parts, "outcome "+string(m.Condition.Outcome))
		case m.RegisterModel != nil:
			a := aws.ToString(m.RegisterModel.Arn)
			parts = append(parts, "registered "+a[strings.Index(a, "model-package/")+len("model-package/"):])
		case m.Model != nil:
			parts = append(parts, "model "+last(m.Model.Arn))
		case m.Callback != nil:
			parts = append(parts, "token "+aws.ToString(m.Callback.CallbackToken))
		case m.Fail != nil:
			parts = append(parts, "message "+oneLine(aws.ToString(m.Fail.ErrorMessage), 60))
		}
	}
	if s.CacheHitResult != nil {
		parts = append(parts, "cached from "+lastSegment(aws.ToString(s.CacheHitResult.SourcePipelineExecutionArn)))
	}
	if r := aws.ToString(s.FailureReason); r != "" && (s.Metadata == nil || s.Metadata.Fail == nil) {
		parts = append(parts, oneLine(r, 80))
	}
	return dash(strings.Join(parts, "; "))
}

func printSteps(w *tabwriter.Writer, steps []types.PipelineExecutionStep) {
	fmt.Fprintln(w, "STEP\tSTATUS\tATTEMPTS\tDURATION\tDETAIL")
	for _, s := range steps {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", aws.ToString(s.StepName), s.StepStatus, aws.ToInt32(s.AttemptCount), duration(s.StartTime, s.EndTime), stepDetail(s))
	}
}

func newPipelinesStepsCmd(g *globals) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "steps EXECUTION",
		Short: "List the steps of an execution (an ARN, PIPELINE/ID, or a pipeline's latest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			arn, err := resolveExecution(cmd.Context(), sm, args[0])
			if err != nil {
				return err
			}
			if watch {
				return watchSteps(cmd.Context(), g, sm, arn)
			}
			steps, err := listAllSteps(cmd.Context(), sm, arn)
			if err != nil {
				return err
			}
			return g.emit(clean(steps), func(w *tabwriter.Writer) { printSteps(w, steps) })
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "print each step change as it happens until the execution ends (exit status 1 unless it succeeds)")
	return cmd
}

// watchSteps prints every step status change of an execution until it ends, then the steps
// and the outcome. It fails (exit status 1) unless the execution succeeded.
func watchSteps(ctx context.Context, g *globals, sm *sagemaker.Client, arn string) error {
	seen := map[string]string{}
	start := time.Now()
	if g.output != "json" {
		fmt.Fprintf(g.stdout, "Following %s\n", arn)
	}
	for {
		x, err := sm.DescribePipelineExecution(ctx, &sagemaker.DescribePipelineExecutionInput{PipelineExecutionArn: aws.String(arn)})
		if err != nil {
			return err
		}
		steps, err := listAllSteps(ctx, sm, arn)
		if err != nil {
			return err
		}
		sort.SliceStable(steps, func(i, j int) bool {
			return aws.ToTime(steps[i].StartTime).Before(aws.ToTime(steps[j].StartTime))
		})
		if g.output != "json" {
			for _, s := range steps {
				key := aws.ToString(s.StepName)
				state := fmt.Sprintf("%s/%d", s.StepStatus, aws.ToInt32(s.AttemptCount))
				if seen[key] == state {
					continue
				}
				seen[key] = state
				fmt.Fprintf(g.stdout, "%7s  %-32s %-10s %s\n", time.Since(start).Round(100*time.Millisecond), key, s.StepStatus, stepDetail(s))
			}
		}
		status := x.PipelineExecutionStatus
		if pipeline.ExecutionDone(string(status)) {
			err := g.emit(clean(map[string]any{"Execution": x, "Steps": steps}), func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "\nExecution %s %s after %s\n", lastSegment(arn), status, time.Since(start).Round(100*time.Millisecond))
				if r := aws.ToString(x.FailureReason); r != "" {
					fmt.Fprintf(w, "Reason: %s\n", r)
				}
			})
			if err != nil {
				return err
			}
			if status != types.PipelineExecutionStatusSucceeded {
				return exitError{code: 1}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func newPipelinesGraphCmd(g *globals) *cobra.Command {
	var dot bool
	var file string
	cmd := &cobra.Command{
		Use:   "graph NAME | -f FILE",
		Short: "Show a pipeline's steps as a graph: text, or Graphviz DOT with --dot",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var text []byte
			name := ""
			switch {
			case file != "" && len(args) == 0:
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				text, name = b, pipelineNameFromFile(file)
			case file == "" && len(args) == 1:
				sm, err := g.sm(cmd.Context())
				if err != nil {
					return err
				}
				p, err := sm.DescribePipeline(cmd.Context(), &sagemaker.DescribePipelineInput{PipelineName: aws.String(args[0])})
				if err != nil {
					return err
				}
				text, name = []byte(aws.ToString(p.PipelineDefinition)), aws.ToString(p.PipelineName)
			default:
				return errors.New("give a pipeline NAME or a definition file with -f FILE")
			}
			def, err := pipeline.Parse(text)
			if err != nil {
				return err
			}
			if dot {
				_, err = fmt.Fprint(g.stdout, def.Graph().DOT(name))
				return err
			}
			type edge struct{ From, To, Kind string }
			var edges []edge
			for _, e := range def.Graph().Edges() {
				edges = append(edges, edge{e.From, e.To, e.Kind.String()})
			}
			return g.emit(map[string]any{"Order": def.Graph().Order(), "Edges": edges}, func(w *tabwriter.Writer) {
				fmt.Fprint(w, def.Graph().Text())
			})
		},
	}
	cmd.Flags().BoolVar(&dot, "dot", false, "print Graphviz DOT (render with: dot -Tsvg)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "render a local definition file instead of a stored pipeline")
	return cmd
}

func newPipelinesStopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stop EXECUTION",
		Short: "Stop an execution (an ARN, PIPELINE/ID, or a pipeline's latest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			arn, err := resolveExecution(cmd.Context(), sm, args[0])
			if err != nil {
				return err
			}
			out, err := sm.StopPipelineExecution(cmd.Context(), &sagemaker.StopPipelineExecutionInput{PipelineExecutionArn: aws.String(arn)})
			if err != nil {
				return err
			}
			return g.emit(clean(out), func(w *tabwriter.Writer) { fmt.Fprintf(w, "Stopping %s\n", arn) })
		},
	}
}

func newPipelinesRetryCmd(g *globals) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "retry EXECUTION",
		Short: "Retry a failed or stopped execution: failed steps run again, finished ones are kept",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			arn, err := resolveExecution(cmd.Context(), sm, args[0])
			if err != nil {
				return err
			}
			out, err := sm.RetryPipelineExecution(cmd.Context(), &sagemaker.RetryPipelineExecutionInput{PipelineExecutionArn: aws.String(arn)})
			if err != nil {
				return err
			}
			if wait {
				return watchSteps(cmd.Context(), g, sm, arn)
			}
			return g.emit(clean(out), func(w *tabwriter.Writer) { fmt.Fprintf(w, "Retrying %s\n", arn) })
		},
	}
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "follow the execution until it ends")
	return cmd
}

func newPipelinesCallbackCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "callback",
		Short: "Answer a Callback step: succeed or fail it by its token",
	}
	var outputs []string
	succeed := &cobra.Command{
		Use:   "succeed TOKEN [-o Name=Value…]",
		Short: "Let the Callback step waiting with TOKEN succeed, with its output parameters",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := parseParams(outputs)
			if err != nil {
				return err
			}
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			out, err := sm.SendPipelineExecutionStepSuccess(cmd.Context(), &sagemaker.SendPipelineExecutionStepSuccessInput{
				CallbackToken: aws.String(args[0]), OutputParameters: outputParameters(ps),
			})
			if err != nil {
				return err
			}
			return g.emit(clean(out), func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Step succeeded; execution %s continues\n", aws.ToString(out.PipelineExecutionArn))
			})
		},
	}
	succeed.Flags().StringArrayVarP(&outputs, "output", "o", nil, "an output parameter as Name=Value (repeatable)")
	var reason string
	fail := &cobra.Command{
		Use:   "fail TOKEN [--reason TEXT]",
		Short: "Fail the Callback step waiting with TOKEN",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			out, err := sm.SendPipelineExecutionStepFailure(cmd.Context(), &sagemaker.SendPipelineExecutionStepFailureInput{
				CallbackToken: aws.String(args[0]), FailureReason: aws.String(reason),
			})
			if err != nil {
				return err
			}
			return g.emit(clean(out), func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Step failed; execution %s fails\n", aws.ToString(out.PipelineExecutionArn))
			})
		},
	}
	fail.Flags().StringVar(&reason, "reason", "rejected", "the failure reason")
	cmd.AddCommand(succeed, fail)
	return cmd
}

// outputParameters converts parameters to the SDK's OutputParameter list.
func outputParameters(ps []types.Parameter) []types.OutputParameter {
	out := make([]types.OutputParameter, len(ps))
	for i, p := range ps {
		out[i] = types.OutputParameter{Name: p.Name, Value: p.Value}
	}
	return out
}
