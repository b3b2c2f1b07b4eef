// Command pipeline measures the pipeline engine's orchestration overhead and the abalone
// example end to end, on a real in-process server (server.New, the wiring of `sluice server`:
// embedded SQLite, the local artifact store, the process runtime) driven through the AWS SDK for
// Go.
//
//		go run ./bench/pipeline                      # all three measurements
//		go run ./bench/pipeline -chain 100 -fanout 1000 -abalone 5 -slots 8
//
//	  - chain: N no-op Processing steps in a DependsOn chain (the image is mapped to /bin/true).
//	    The overhead of a step is the time from its upstream job being Completed (the runner's
//	    commit) to its own job being created; it is split at the moment the engine recorded the
//	    upstream step Succeeded. The same chain of Condition steps, which run no job, gives the
//	    engine's own cost per step.
//	  - fan-out/fan-in: one step, N parallel no-op steps after it, one step after all of them;
//	    throughput is steps per second of execution wall time.
//	  - abalone: examples/abalone/pipeline.json on the built-in images, from
//	    StartPipelineExecution to Succeeded, each run a fresh pipeline so nothing is cached.
//
// The binary stands in for the sluice binary that the server re-executes to run built-in
// images (`sluice algo <name>`).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/algo"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "algo" {
		if err := algo.Main(context.Background(), os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	chain := flag.Int("chain", 100, "steps in the chain (0 skips it)")
	fanout := flag.Int("fanout", 1000, "parallel steps between the fan-out and the fan-in (0 skips it)")
	fanoutRuns := flag.Int("fanout-runs", 3, "times the fan-out runs, one after another on the same server")
	abalone := flag.Int("abalone", 5, "end-to-end runs of the abalone example (0 skips it)")
	example := flag.String("example", "examples/abalone/pipeline.json", "the abalone pipeline definition")
	slots := flag.Int("slots", 8, "jobs the runner runs at once")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the server to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	ctx := context.Background()
	b, err := newBench(ctx, *slots)
	if err != nil {
		fail(err)
	}
	defer b.close()
	fmt.Printf("pipeline engine benchmark: %d CPUs, job slots %d, embedded SQLite, local artifacts\n\n", runtime.NumCPU(), *slots)
	if *chain > 0 {
		if err := b.chain(ctx, *chain); err != nil {
			fail(err)
		}
		if err := b.inlineChain(ctx, *chain); err != nil {
			fail(err)
		}
	}
	if *fanout > 0 {
		if err := b.fanout(ctx, *fanout, *fanoutRuns); err != nil {
			fail(err)
		}
	}
	if *abalone > 0 {
		if err := b.abalone(ctx, *example, *abalone); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

type bench struct {
	srv    *server.Server
	dir    string
	c      *sagemaker.Client
	cancel context.CancelFunc
	done   chan error
	seq    int
}

func newBench(ctx context.Context, slots int) (*bench, error) {
	dir, err := os.MkdirTemp("", "sluice-bench-pipeline-")
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.LogLevel = "warn"
	cfg.Jobs.Slots = slots
	cfg.Jobs.Images = map[string]string{"bench/noop": "/bin/true"}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	b := &bench{srv: srv, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- srv.Run(rctx) }()
	keys, err := srv.Store().AccessKeys(ctx)
	if err != nil || len(keys) == 0 {
		b.close()
		return nil, fmt.Errorf("root key: %v", err)
	}
	b.c = sagemaker.New(sagemaker.Options{
		Region: cfg.Region, BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(keys[0].AccessKeyID, keys[0].Secret, ""),
	})
	return b, nil
}

func (b *bench) close() {
	b.cancel()
	<-b.done
	os.RemoveAll(b.dir)
}

func noopStep(name string, after ...string) map[string]any {
	s := map[string]any{"Name": name, "Type": "Processing", "Arguments": map[string]any{
		"AppSpecification":    map[string]any{"ImageUri": "bench/noop"},
		"ProcessingResources": map[string]any{"ClusterConfig": map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}},
		"RoleArn":             "arn:aws:iam::000000000000:role/bench",
	}}
	if len(after) > 0 {
		s["DependsOn"] = after
	}
	return s
}

func definition(steps []map[string]any) string {
	b, _ := json.Marshal(map[string]any{"Version": "2020-12-01", "Metadata": map[string]any{}, "Parameters": []any{}, "Steps": steps})
	return string(b)
}

// run creates a pipeline from def, runs it once and returns the execution's ARN and its wall
// time (the server's creation and end times).
func (b *bench) run(ctx context.Context, def string, params ...types.Parameter) (string, time.Duration, error) {
	b.seq++
	name := fmt.Sprintf("bench-%d", b.seq)
	if _, err := b.c.CreatePipeline(ctx, &sagemaker.CreatePipelineInput{PipelineName: aws.String(name), PipelineDefinition: aws.String(def),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/bench")}); err != nil {
		return "", 0, err
	}
	start, err := b.c.StartPipelineExecution(ctx, &sagemaker.StartPipelineExecutionInput{PipelineName: aws.String(name), PipelineParameters: params})
	if err != nil {
		return "", 0, err
	}
	arn := aws.ToString(start.PipelineExecutionArn)
	for {
		x, err := b.c.DescribePipelineExecution(ctx, &sagemaker.DescribePipelineExecutionInput{PipelineExecutionArn: aws.String(arn)})
		if err != nil {
			return "", 0, err
		}
		switch x.PipelineExecutionStatus {
		case types.PipelineExecutionStatusSucceeded:
			return arn, aws.ToTime(x.LastModifiedTime).Sub(aws.ToTime(x.CreationTime)), nil
		case types.PipelineExecutionStatusExecuting, types.PipelineExecutionStatusStopping:
			time.Sleep(20 * time.Millisecond)
		default:
			return "", 0, fmt.Errorf("%s ended %s: %s", arn, x.PipelineExecutionStatus, aws.ToString(x.FailureReason))
		}
	}
}

func (b *bench) steps(ctx context.Context, arn string) ([]types.PipelineExecutionStep, error) {
	var all []types.PipelineExecutionStep
	p := sagemaker.NewListPipelineExecutionStepsPaginator(b.c, &sagemaker.ListPipelineExecutionStepsInput{
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

func (b *bench) chain(ctx context.Context, n int) error {
	var steps []map[string]any
	for i := range n {
		if i == 0 {
			steps = append(steps, noopStep("S000"))
		} else {
			steps = append(steps, noopStep(fmt.Sprintf("S%03d", i), fmt.Sprintf("S%03d", i-1)))
		}
	}
	arn, wall, err := b.run(ctx, definition(steps))
	if err != nil {
		return err
	}
	// The wire's timestamps are rounded to the millisecond; the store keeps the engine's
	// microseconds and the runner's nanoseconds.
	st := b.srv.Store()
	x, err := st.PipelineExecution(ctx, arn)
	if err != nil {
		return err
	}
	rows, err := st.PipelineSteps(ctx, x.ID)
	if err != nil {
		return err
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	type jobTimes struct{ created, ended, stepEnded time.Time }
	times := make([]jobTimes, len(rows))
	var jobTime []time.Duration
	for i, r := range rows {
		j, err := st.Job(ctx, r.ResourceARN)
		if err != nil {
			return err
		}
		times[i] = jobTimes{j.CreatedAt, j.EndedAt, r.EndedAt}
		jobTime = append(jobTime, j.EndedAt.Sub(j.CreatedAt))
	}
	var gap, notice, next []time.Duration
	for i := 1; i < len(times); i++ {
		gap = append(gap, times[i].created.Sub(times[i-1].ended))
		notice = append(notice, times[i-1].stepEnded.Sub(times[i-1].ended))
		next = append(next, times[i].created.Sub(times[i-1].stepEnded))
	}
	fmt.Printf("chain of %d no-op Processing steps: %s wall, %s per step (job runner included)\n", n, wall.Round(time.Millisecond), (wall / time.Duration(n)).Round(10*time.Microsecond))
	table("measure", []row{
		{"orchestration overhead per step: upstream job Completed → next job created", gap},
		{"… upstream job Completed → step recorded Succeeded", notice},
		{"… step recorded Succeeded → next job created", next},
		{"for comparison, the job itself: created → Completed (job runner)", jobTime},
	})
	return nil
}

// inlineChain times the same chain of Condition steps, which run no job: the engine's own cost.
func (b *bench) inlineChain(ctx context.Context, n int) error {
	var steps []map[string]any
	for i := range n {
		s := map[string]any{"Name": fmt.Sprintf("C%03d", i), "Type": "Condition", "Arguments": map[string]any{
			"Conditions": []any{map[string]any{"Type": "Equals", "LeftValue": i, "RightValue": i}}}}
		if i > 0 {
			s["DependsOn"] = []string{fmt.Sprintf("C%03d", i-1)}
		}
		steps = append(steps, s)
	}
	_, wall, err := b.run(ctx, definition(steps))
	if err != nil {
		return err
	}
	fmt.Printf("chain of %d Condition steps (no jobs): %s wall, %s per step\n\n", n, wall.Round(time.Millisecond), (wall / time.Duration(n)).Round(time.Microsecond))
	return nil
}

func (b *bench) fanout(ctx context.Context, n, runs int) error {
	shape := func(step func(name string, after ...string) map[string]any) string {
		steps := []map[string]any{step("Fan")}
		var mids []string
		for i := range n {
			name := fmt.Sprintf("P%04d", i)
			mids = append(mids, name)
			steps = append(steps, step(name, "Fan"))
		}
		return definition(append(steps, step("Join", mids...)))
	}
	total := n + 2
	fmt.Printf("fan-out/fan-in of %d steps (1 → %d → 1), %d runs on one server\n", total, n, runs)
	fmt.Println("| steps | run | wall | steps/s |\n|---|---|---|---|")
	var jobRates []float64
	for i := range runs {
		_, wall, err := b.run(ctx, shape(noopStep))
		if err != nil {
			return err
		}
		rate := float64(total) / wall.Seconds()
		jobRates = append(jobRates, rate)
		fmt.Printf("| no-op Processing (a real process each) | %d | %s | %.0f |\n", i+1, wall.Round(time.Millisecond), rate)
	}
	// The same shape of Condition steps runs no job: the engine's own share.
	_, wall, err := b.run(ctx, shape(conditionStep))
	if err != nil {
		return err
	}
	fmt.Printf("| Condition (no job: the engine alone) | 1 | %s | %.0f |\n", wall.Round(time.Millisecond), float64(total)/wall.Seconds())
	sort.Float64s(jobRates)
	fmt.Printf("\nno-op Processing steps: median %.0f steps/s (min %.0f, max %.0f); target ≥ 200\n\n", jobRates[len(jobRates)/2], jobRates[0], jobRates[len(jobRates)-1])
	return nil
}

// conditionStep is a step that runs no job: a Condition that always holds.
func conditionStep(name string, after ...string) map[string]any {
	s := map[string]any{"Name": name, "Type": "Condition", "Arguments": map[string]any{
		"Conditions": []any{map[string]any{"Type": "Equals", "LeftValue": 1, "RightValue": 1}}}}
	if len(after) > 0 {
		s["DependsOn"] = after
	}
	return s
}

func (b *bench) abalone(ctx context.Context, path string, runs int) error {
	def, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w (run from the repository root, or pass -example)", err)
	}
	var walls []time.Duration
	for range runs {
		arn, wall, err := b.run(ctx, string(def))
		if err != nil {
			return err
		}
		walls = append(walls, wall)
		_ = arn
	}
	fmt.Printf("abalone example end to end (%d cold runs: synth → prep → xgboost → evaluate → condition → register + model)\n", runs)
	table("measure", []row{{"StartPipelineExecution → Succeeded", walls}})
	return nil
}

type row struct {
	name string
	d    []time.Duration
}

func table(head string, rows []row) {
	fmt.Printf("| %s | p50 | p90 | p99 | n |\n|---|---|---|---|---|\n", head)
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %d |\n", r.name, pct(r.d, 50), pct(r.d, 90), pct(r.d, 99), len(r.d))
	}
	fmt.Println()
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	v := s[i]
	return fmt.Sprintf("%.2f ms", float64(v)/1e6)
}
