// Command transform benchmarks batch transform end to end against the Python script a person
// would write for the same work, side by side in one run: a CSV of -rows rows scored with a
// 100-tree, depth-6 model trained by real XGBoost (1.7, Debian's python3-xgboost).
//
//   - Sluice: a real in-process server (server.New, the wiring of `sluice server`: SQLite, the
//     local artifact store) and the AWS SDK for Go as the client. The clock runs from the
//     CreateTransformJob call until DescribeTransformJob reports Completed: queueing, loading
//     the model from its model.tar.gz, reading the CSV from the artifact store, predicting with
//     the in-process XGBoost server, and writing the .out object (fsync'd) are all inside.
//   - Python: pandas.read_csv, xgboost's DMatrix and Booster.predict, DataFrame.to_csv, timed
//     inside the script from loading the model to the closed output file.
//
// Both use -threads cores (GOMAXPROCS; XGBoost's nthread). The outputs are compared, so the two
// sides did the same work. Run it with bench/transform/run.sh.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server"
)

type options struct {
	python  string
	rows    int
	cols    int
	trees   int
	depth   int
	threads int
	repeat  int
	payload int
}

func main() {
	var o options
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "python interpreter with pandas and xgboost")
	flag.IntVar(&o.rows, "rows", 1_000_000, "rows in the CSV")
	flag.IntVar(&o.cols, "cols", 10, "features per row")
	flag.IntVar(&o.trees, "trees", 100, "boosting rounds (trees)")
	flag.IntVar(&o.depth, "depth", 6, "max_depth")
	flag.IntVar(&o.threads, "threads", 2, "cores for both sides (GOMAXPROCS, XGBoost nthread)")
	flag.IntVar(&o.repeat, "repeat", 3, "timed runs per side (the best is reported)")
	flag.IntVar(&o.payload, "max-payload", 0, "MaxPayloadInMB of the Sluice job (0: the model's default, 6)")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options, out io.Writer) error {
	runtime.GOMAXPROCS(o.threads)
	dir, err := os.MkdirTemp("", "sluice-bench-transform-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data.csv")
	size, err := writeCSV(data, o.rows, o.cols)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "data: %d rows x %d features, %.1f MB of CSV; model: %d trees of depth %d; %d threads\n", o.rows, o.cols, float64(size)/1e6, o.trees, o.depth, o.threads)
	model := filepath.Join(dir, "xgboost-model")
	if _, err := python(o.python, "train", data, model, strconv.Itoa(o.threads), strconv.Itoa(o.trees), strconv.Itoa(o.depth)); err != nil {
		return fmt.Errorf("training the model: %w", err)
	}

	// Python first, then Sluice, alternating, so that both see the same machine state.
	var py []pyTiming
	var sl []sluiceTiming
	pyOut := filepath.Join(dir, "python.out")
	env, err := startSluice(dir, model, data, o)
	if err != nil {
		return err
	}
	defer env.stop()
	for i := range o.repeat {
		line, err := python(o.python, "transform", data, model, pyOut, strconv.Itoa(o.threads))
		if err != nil {
			return fmt.Errorf("the python transform: %w", err)
		}
		var t pyTiming
		if err := json.Unmarshal([]byte(line), &t); err != nil {
			return fmt.Errorf("the python transform printed %q: %w", line, err)
		}
		py = append(py, t)
		st, err := env.transform(fmt.Sprintf("bench-%d", i), o)
		if err != nil {
			return err
		}
		sl = append(sl, st)
	}
	diff, err := compare(pyOut, env.output(dir, fmt.Sprintf("bench-%d", o.repeat-1)))
	if err != nil {
		return err
	}
	report(out, o, py, sl, diff)
	return nil
}

// writeCSV writes rows of normally distributed features with six significant digits, the way
// a data export would.
func writeCSV(path string, rows, cols int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(7, 7))
	var line []byte
	for range rows {
		line = line[:0]
		for j := range cols {
			if j > 0 {
				line = append(line, ',')
			}
			line = strconv.AppendFloat(line, rng.NormFloat64(), 'g', 6, 64)
		}
		line = append(line, '\n')
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), f.Close()
}

func python(py string, args ...string) (string, error) {
	here, err := benchDir()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(py, append([]string{filepath.Join(here, "transform_bench.py")}, args...)...)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	return strings.TrimSpace(string(b)), err
}

// benchDir finds this command's folder from the working directory (the repository root when
// run through run.sh, or the folder itself).
func benchDir() (string, error) {
	for _, d := range []string{"bench/transform", "."} {
		if _, err := os.Stat(filepath.Join(d, "transform_bench.py")); err == nil {
			return filepath.Abs(d)
		}
	}
	return "", fmt.Errorf("transform_bench.py not found; run from the repository root")
}

type pyTiming struct {
	Read, Predict, Write, Total float64
	XGBoost                     string `json:"xgboost"`
	Pandas                      string `json:"pandas"`
}

type sluiceTiming struct {
	total     time.Duration // CreateTransformJob sent → Completed seen
	transform time.Duration // TransformStartTime → TransformEndTime (the records' part)
}

// sluiceEnv is a running server with the model and the data in its artifact store.
type sluiceEnv struct {
	srv    *server.Server
	client *sagemaker.Client
	cancel context.CancelFunc
	done   chan error
}

func startSluice(dir, modelFile, data string, o options) (*sluiceEnv, error) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(dir, "sluice")
	cfg.LogLevel = "warn"
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	e := &sluiceEnv{srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- srv.Run(rctx) }()
	keys, err := srv.Store().AccessKeys(ctx)
	if err != nil || len(keys) == 0 {
		e.stop()
		return nil, fmt.Errorf("root key: %v", err)
	}
	e.client = sagemaker.New(sagemaker.Options{
		Region: cfg.Region, BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(keys[0].AccessKeyID, keys[0].Secret, ""),
	})
	bs := srv.Blob()
	if err := blob.EnsureBucket(ctx, bs, "bench"); err != nil {
		e.stop()
		return nil, err
	}
	modelDir := filepath.Join(dir, "model")
	os.MkdirAll(modelDir, 0o755)
	if err := os.Link(modelFile, filepath.Join(modelDir, "xgboost-model")); err != nil {
		e.stop()
		return nil, err
	}
	tarPath := filepath.Join(dir, "model.tar.gz")
	tf, err := os.Create(tarPath)
	if err == nil {
		err = blob.PackDir(modelDir, tf)
		tf.Close()
	}
	if err == nil {
		err = blob.CopyToStore(ctx, bs, tarPath, blob.MustParseURI("s3://bench/model/model.tar.gz"), nil)
	}
	if err == nil {
		err = blob.CopyToStore(ctx, bs, data, blob.MustParseURI("s3://bench/input/data.csv"), nil)
	}
	if err == nil {
		_, err = e.client.CreateModel(ctx, &sagemaker.CreateModelInput{ModelName: aws.String("bench"), ExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/bench"),
			PrimaryContainer: &types.ContainerDefinition{Image: aws.String("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
				ModelDataUrl: aws.String("s3://bench/model/model.tar.gz")}})
	}
	if err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

func (e *sluiceEnv) stop() {
	e.cancel()
	<-e.done
}

// transform runs one job, as the abalone pipeline's Transform step asks for it.
func (e *sluiceEnv) transform(name string, o options) (sluiceTiming, error) {
	ctx := context.Background()
	in := &sagemaker.CreateTransformJobInput{
		TransformJobName: aws.String(name),
		ModelName:        aws.String("bench"),
		BatchStrategy:    types.BatchStrategyMultiRecord,
		TransformInput: &types.TransformInput{
			DataSource:  &types.TransformDataSource{S3DataSource: &types.TransformS3DataSource{S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String("s3://bench/input/")}},
			ContentType: aws.String("text/csv"), SplitType: types.SplitTypeLine,
		},
		TransformOutput:    &types.TransformOutput{S3OutputPath: aws.String("s3://bench/output/" + name), AssembleWith: types.AssemblyTypeLine, Accept: aws.String("text/csv")},
		TransformResources: &types.TransformResources{InstanceType: types.TransformInstanceTypeMlM5Xlarge, InstanceCount: aws.Int32(1)},
	}
	if o.payload > 0 {
		in.MaxPayloadInMB = aws.Int32(int32(o.payload))
	}
	start := time.Now()
	if _, err := e.client.CreateTransformJob(ctx, in); err != nil {
		return sluiceTiming{}, err
	}
	for {
		d, err := e.client.DescribeTransformJob(ctx, &sagemaker.DescribeTransformJobInput{TransformJobName: aws.String(name)})
		if err != nil {
			return sluiceTiming{}, err
		}
		switch d.TransformJobStatus {
		case types.TransformJobStatusCompleted:
			return sluiceTiming{total: time.Since(start), transform: d.TransformEndTime.Sub(*d.TransformStartTime)}, nil
		case types.TransformJobStatusFailed, types.TransformJobStatusStopped:
			return sluiceTiming{}, fmt.Errorf("job %s %s: %s", name, d.TransformJobStatus, aws.ToString(d.FailureReason))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// output is where the local artifact store keeps a job's output file.
func (e *sluiceEnv) output(dir, name string) string {
	return filepath.Join(dir, "sluice", "blobs", "bench", "output", name, "data.csv.out")
}

// compare checks that both sides wrote the same predictions and returns the largest difference.
func compare(pyOut, slOut string) (float64, error) {
	read := func(p string) ([]float64, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var out []float64
		for l := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			v, err := strconv.ParseFloat(l, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a number", p, l)
			}
			out = append(out, v)
		}
		return out, nil
	}
	a, err := read(pyOut)
	if err != nil {
		return 0, err
	}
	b, err := read(slOut)
	if err != nil {
		return 0, err
	}
	if len(a) != len(b) {
		return 0, fmt.Errorf("python wrote %d predictions, sluice %d", len(a), len(b))
	}
	worst := 0.0
	for i := range a {
		worst = math.Max(worst, math.Abs(a[i]-b[i]))
	}
	if worst > 1e-4 {
		return worst, fmt.Errorf("the predictions differ by up to %g", worst)
	}
	return worst, nil
}

func best[T any](xs []T, key func(T) float64) T {
	return slices.MinFunc(xs, func(a, b T) int {
		switch ka, kb := key(a), key(b); {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
}

func report(w io.Writer, o options, py []pyTiming, sl []sluiceTiming, diff float64) {
	p := best(py, func(t pyTiming) float64 { return t.Total })
	s := best(sl, func(t sluiceTiming) float64 { return t.total.Seconds() })
	rows := float64(o.rows)
	fmt.Fprintf(w, "python: pandas %s, xgboost %s; best of %d runs each; predictions agree to %.2g\n\n", p.Pandas, p.XGBoost, o.repeat, diff)
	fmt.Fprintf(w, "%-44s %10s %14s %14s\n", "", "seconds", "rows/s", "rows/min")
	line := func(name string, sec float64) {
		fmt.Fprintf(w, "%-44s %10.2f %14s %14s\n", name, sec, group(rows/sec), group(rows*60/sec))
	}
	line("python: pandas + xgboost, end to end", p.Total)
	fmt.Fprintf(w, "%-44s %10.2f / %.2f / %.2f\n", "  read / predict / write", p.Read, p.Predict, p.Write)
	line("sluice: transform job, end to end", s.total.Seconds())
	line("  of which transforming (start → end)", s.transform.Seconds())
	fmt.Fprintf(w, "\nsluice / python: %.2fx the rows per second end to end (target ≥ 1x and ≥ 1,000,000 rows/min)\n", p.Total/s.total.Seconds())
}

func group(v float64) string {
	s := strconv.FormatInt(int64(v), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
