package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() { addCommands(transformCommands) }

// transformCommands drive batch transform through SageMaker's API, as boto3 would, and follow
// a job's progress through the native API.
func transformCommands(g *globals) []*cobra.Command {
	cmd := &cobra.Command{
		Use:   "transform",
		Short: "Batch transform: run a model over data sets in the artifact store",
	}
	cmd.AddCommand(newTransformRunCmd(g), newTransformDescribeCmd(g), newTransformStopCmd(g))
	return []*cobra.Command{cmd}
}

// transformFlags are the options of `transform run`, one per CreateTransformJob member.
type transformFlags struct {
	name, model, input, output         string
	manifest                           bool
	contentType, split, compression    string
	accept, assemble, strategy         string
	maxPayload, concurrency, instances int
	instanceType                       string
	inputFilter, outputFilter          string
	join                               bool
	timeout, retries                   int
	env                                []string
	noWait, quiet                      bool
}

func newTransformRunCmd(g *globals) *cobra.Command {
	var f transformFlags
	cmd := &cobra.Command{
		Use:   "run --model NAME --input s3://… --output s3://…",
		Short: "Run a transform job and follow it: records and bytes done, rate and time left",
		Long: `Run a batch transform job: the model's predictions for every record of every object under
--input, written as <object>.out under --output in the same order. The job is an ordinary
transform job (CreateTransformJob); this command follows it until it ends and exits non-zero
unless it completed. Its log: sluice jobs logs NAME.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTransform(cmd.Context(), g, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "job name (default: <model>-<time>)")
	fl.StringVar(&f.model, "model", "", "the SageMaker model to run (required)")
	fl.StringVar(&f.input, "input", "", "s3:// prefix of the input objects, or of a manifest with --manifest (required)")
	fl.StringVar(&f.output, "output", "", "s3:// prefix the <object>.out files go to (required)")
	fl.BoolVar(&f.manifest, "manifest", false, "--input is a manifest file listing the objects (S3DataType ManifestFile)")
	fl.StringVar(&f.contentType, "content-type", "text/csv", "ContentType of the records")
	fl.StringVar(&f.split, "split", "Line", "SplitType: Line (one record per line) or None (each object is one record)")
	fl.StringVar(&f.compression, "compression", "None", "CompressionType of the objects: None or Gzip")
	fl.StringVar(&f.accept, "accept", "", "Accept: the content type of the answers (default: the model's)")
	fl.StringVar(&f.assemble, "assemble-with", "Line", "AssembleWith: Line (a newline after each answer) or None")
	fl.StringVar(&f.strategy, "strategy", "", "BatchStrategy: MultiRecord or SingleRecord (default: the model's, else MultiRecord)")
	fl.IntVar(&f.maxPayload, "max-payload", 0, "MaxPayloadInMB of a mini-batch (default: the model's, else 6)")
	fl.IntVar(&f.concurrency, "concurrency", 0, "MaxConcurrentTransforms per instance (default: the model's, else 1)")
	fl.IntVar(&f.instances, "instances", 1, "InstanceCount: workers the input objects are split across")
	fl.StringVar(&f.instanceType, "instance-type", "ml.m5.xlarge", "InstanceType (recorded; the job runs on this server)")
	fl.StringVar(&f.inputFilter, "input-filter", "", "DataProcessing.InputFilter, e.g. '$[1:]' to drop an id column")
	fl.StringVar(&f.outputFilter, "output-filter", "", "DataProcessing.OutputFilter, e.g. '$[0,-1]' for the id and the prediction")
	fl.BoolVar(&f.join, "join", false, "join each answer to its input record (JoinSource Input)")
	fl.IntVar(&f.timeout, "timeout", 0, "InvocationsTimeoutInSeconds (default 600)")
	fl.IntVar(&f.retries, "retries", -1, "InvocationsMaxRetries, 0 to 3 (default 3)")
	fl.StringArrayVar(&f.env, "env", nil, "KEY=VALUE for the model's environment (repeatable)")
	fl.BoolVar(&f.noWait, "no-wait", false, "create the job and return without following it")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

func (f *transformFlags) request() (*sagemaker.CreateTransformJobInput, error) {
	switch {
	case f.model == "":
		return nil, errors.New("--model is required")
	case f.input == "":
		return nil, errors.New("--input is required")
	case f.output == "":
		return nil, errors.New("--output is required")
	}
	if f.name == "" {
		f.name = f.model + "-" + time.Now().UTC().Format("20060102-150405")
		if len(f.name) > 63 {
			f.name = f.name[len(f.name)-63:]
		}
	}
	dataType := types.S3DataTypeS3Prefix
	if f.manifest {
		dataType = types.S3DataTypeManifestFile
	}
	in := &sagemaker.CreateTransformJobInput{
		TransformJobName: aws.String(f.name),
		ModelName:        aws.String(f.model),
		TransformInput: &types.TransformInput{
			DataSource:      &types.TransformDataSource{S3DataSource: &types.TransformS3DataSource{S3DataType: dataType, S3Uri: aws.String(f.input)}},
			ContentType:     aws.String(f.contentType),
			SplitType:       types.SplitType(f.split),
			CompressionType: types.CompressionType(f.compression),
		},
		TransformOutput:    &types.TransformOutput{S3OutputPath: aws.String(f.output), AssembleWith: types.AssemblyType(f.assemble)},
		TransformResources: &types.TransformResources{InstanceType: types.TransformInstanceType(f.instanceType), InstanceCount: aws.Int32(int32(f.instances))},
		BatchStrategy:      types.BatchStrategy(f.strategy),
	}
	if f.accept != "" {
		in.TransformOutput.Accept = aws.String(f.accept)
	}
	if f.maxPayload > 0 {
		in.MaxPayloadInMB = aws.Int32(int32(f.maxPayload))
	}
	if f.concurrency > 0 {
		in.MaxConcurrentTransforms = aws.Int32(int32(f.concurrency))
	}
	if f.inputFilter != "" || f.outputFilter != "" || f.join {
		in.DataProcessing = &types.DataProcessing{}
		if f.inputFilter != "" {
			in.DataProcessing.InputFilter = aws.String(f.inputFilter)
		}
		if f.outputFilter != "" {
			in.DataProcessing.OutputFilter = aws.String(f.outputFilter)
		}
		if f.join {
			in.DataProcessing.JoinSource = types.JoinSourceInput
		}
	}
	if f.timeout > 0 || f.retries >= 0 {
		in.ModelClientConfig = &types.ModelClientConfig{}
		if f.timeout > 0 {
			in.ModelClientConfig.InvocationsTimeoutInSeconds = aws.Int32(int32(f.timeout))
		}
		if f.retries >= 0 {
			in.ModelClientConfig.InvocationsMaxRetries = aws.Int32(int32(f.retries))
		}
	}
	for _, kv := range f.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: expected KEY=VALUE", kv)
		}
		if in.Environment == nil {
			in.Environment = map[string]string{}
		}
		in.Environment[k] = v
	}
	return in, nil
}

// transformProgress is the native API's progress of a transform job.
type transformProgress struct {
	Name          string
	Status        string
	FailureReason string
	StartTime     *time.Time
	EndTime       *time.Time
	Files         int
	FilesDone     int
	Records       int64
	BytesRead     int64
	TotalBytes    int64
	InputFiles    []struct {
		Input, Output, Status, Error string
		Records, BytesRead, Size     int64
	}
}

func runTransform(ctx context.Context, g *globals, f *transformFlags) error {
	in, err := f.request()
	if err != nil {
		return err
	}
	c, err := g.connect(ctx)
	if err != nil {
		return err
	}
	sm := c.sagemaker()
	out, err := sm.CreateTransformJob(ctx, in)
	if err != nil {
		return err
	}
	if f.noWait {
		return g.emit(map[string]string{"TransformJobName": f.name, "TransformJobArn": aws.ToString(out.TransformJobArn)}, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "%s\n", aws.ToString(out.TransformJobArn))
		})
	}
	show := newProgressLine(g.stderr, f.quiet)
	p, err := followTransform(ctx, c, f.name, show.update)
	show.finish()
	if err != nil {
		return err
	}
	if err := g.emit(p, func(w *tabwriter.Writer) { printTransformResult(w, p) }); err != nil {
		return err
	}
	if p.Status != "Completed" {
		if p.FailureReason != "" {
			return fmt.Errorf("transform job %s %s: %s", f.name, strings.ToLower(p.Status), p.FailureReason)
		}
		return fmt.Errorf("transform job %s %s", f.name, strings.ToLower(p.Status))
	}
	return nil
}

// followTransform polls the job's progress until it ends; interrupting the command stops
// the job.
func followTransform(ctx context.Context, c *conn, name string, update func(*transformProgress)) (*transformProgress, error) {
	path := "/api/v1/transform-jobs/" + url.PathEscape(name) + "/progress"
	stopAsked := false
	for {
		var p transformProgress
		err := c.do(context.WithoutCancel(ctx), "GET", path, nil, &p)
		if err != nil {
			return nil, err
		}
		update(&p)
		switch p.Status {
		case "Completed", "Failed", "Stopped":
			return &p, nil
		}
		if ctx.Err() != nil && !stopAsked {
			// Ctrl-C stops the job, as it would stop a local program, and waits for the end.
			stopAsked = true
			if _, err := c.sagemaker().StopTransformJob(context.WithoutCancel(ctx), &sagemaker.StopTransformJobInput{TransformJobName: aws.String(name)}); err != nil {
				return nil, err
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// progressLine draws the progress of a job on one line of a terminal, or prints a line every
// few seconds when stderr is not a terminal.
type progressLine struct {
	w        io.Writer
	quiet    bool
	tty      bool
	started  time.Time // when the client first saw the job transforming
	lastLine time.Time
	drawn    bool
}

func newProgressLine(w io.Writer, quiet bool) *progressLine {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressLine{w: w, quiet: quiet, tty: tty}
}

func (l *progressLine) update(p *transformProgress) {
	if l.quiet {
		return
	}
	now := time.Now()
	if p.StartTime != nil && l.started.IsZero() {
		l.started = now
	}
	text := progressText(p, now.Sub(l.started), !l.started.IsZero())
	if l.tty {
		fmt.Fprintf(l.w, "\r\033[K%s", text)
		l.drawn = true
		return
	}
	if now.Sub(l.lastLine) >= 5*time.Second || p.Status != "InProgress" {
		fmt.Fprintln(l.w, text)
		l.lastLine = now
	}
}

func (l *progressLine) finish() {
	if l.drawn {
		fmt.Fprintln(l.w)
	}
}

// progressText is one line of progress: files, records and bytes done, rate and time left.
func progressText(p *transformProgress, elapsed time.Duration, running bool) string {
	if !running || p.Files == 0 {
		return fmt.Sprintf("%s: %s, starting the model", p.Name, p.Status)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d/%d files, %s records, %s", p.Name, p.FilesDone, p.Files, groupDigits(p.Records), humanBytes(p.BytesRead))
	if p.TotalBytes > 0 {
		fmt.Fprintf(&b, " of %s (%d%%)", humanBytes(p.TotalBytes), p.BytesRead*100/p.TotalBytes)
	}
	if s := elapsed.Seconds(); s > 0.2 && p.BytesRead > 0 {
		fmt.Fprintf(&b, ", %s records/s, %s/s", groupDigits(int64(float64(p.Records)/s)), humanBytes(int64(float64(p.BytesRead)/s)))
		if p.Status == "InProgress" && p.TotalBytes > p.BytesRead {
			left := time.Duration(float64(p.TotalBytes-p.BytesRead) / (float64(p.BytesRead) / s) * float64(time.Second))
			fmt.Fprintf(&b, ", ~%s left", left.Round(time.Second))
		}
	}
	if p.Status != "InProgress" {
		fmt.Fprintf(&b, " — %s", p.Status)
	}
	return b.String()
}

// groupDigits writes n with thousands separators.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + groupDigits(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func printTransformResult(w *tabwriter.Writer, p *transformProgress) {
	kv(w, "Name", p.Name)
	kv(w, "Status", p.Status)
	kv(w, "Failure reason", p.FailureReason)
	kv(w, "Files", fmt.Sprintf("%d of %d done", p.FilesDone, p.Files))
	kv(w, "Records", groupDigits(p.Records))
	kv(w, "Input read", humanBytes(p.BytesRead))
	if p.StartTime != nil && p.EndTime != nil {
		d := p.EndTime.Sub(*p.StartTime)
		kv(w, "Transform time", d.Round(time.Millisecond).String())
		if s := d.Seconds(); s > 0 {
			kv(w, "Rate", fmt.Sprintf("%s records/s, %s/s", groupDigits(int64(float64(p.Records)/s)), humanBytes(int64(float64(p.BytesRead)/s))))
		}
	}
	for _, f := range p.InputFiles {
		line := f.Status + "  " + f.Input + " -> " + f.Output
		if f.Error != "" {
			line += "  (" + oneLine(f.Error, 120) + ")"
		}
		kv(w, "  "+groupDigits(f.Records)+" records", line)
	}
}

func newTransformDescribeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a transform job: settings, status, and the progress of each input file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			d, err := c.sagemaker().DescribeTransformJob(cmd.Context(), &sagemaker.DescribeTransformJobInput{TransformJobName: aws.String(args[0])})
			if err != nil {
				return err
			}
			var p transformProgress
			if err := c.do(cmd.Context(), "GET", "/api/v1/transform-jobs/"+url.PathEscape(args[0])+"/progress", nil, &p); err != nil {
				return err
			}
			return g.emit(map[string]any{"TransformJob": sdkJSON(d), "Progress": p}, func(w *tabwriter.Writer) {
				kv(w, "ARN", aws.ToString(d.TransformJobArn))
				kv(w, "Model", aws.ToString(d.ModelName))
				if in := d.TransformInput; in != nil && in.DataSource != nil && in.DataSource.S3DataSource != nil {
					kv(w, "Input", aws.ToString(in.DataSource.S3DataSource.S3Uri)+" ("+aws.ToString(in.ContentType)+", split "+string(in.SplitType)+")")
				}
				if d.TransformOutput != nil {
					kv(w, "Output", aws.ToString(d.TransformOutput.S3OutputPath))
				}
				kv(w, "Strategy", string(d.BatchStrategy))
				kv(w, "Created", fmtTime(d.CreationTime))
				printTransformResult(w, &p)
			})
		},
	}
}

func newTransformStopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a transform job; outputs of files already finished stay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sm, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := sm.StopTransformJob(cmd.Context(), &sagemaker.StopTransformJobInput{TransformJobName: aws.String(args[0])}); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "Stopping transform job %s; `sluice transform describe %s` shows when it has stopped.\n", args[0], args[0])
			return nil
		},
	}
}
