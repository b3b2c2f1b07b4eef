package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/runtime"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

// helperEnv makes the test binary act as a small job program (see runHelper).
const helperEnv = "SLUICE_JOBS_TEST_HELPER"

// TestMain lets the test binary stand in for the sluice binary as the runtime's init shim, and
// act as job programs and as a server for the restart test.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitCommand {
		os.Exit(runtime.InitMain(os.Args[2:]))
	}
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper(os.Args[1:]))
	}
	if os.Getenv(serverEnv) != "" {
		os.Exit(runServer(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runHelper is a job program: args[0] names what it does.
func runHelper(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "helper: no command")
		return 2
	}
	switch args[0] {
	case "dial":
		c, err := net.DialTimeout("tcp", args[1], 2*time.Second)
		if err != nil {
			fmt.Println("dial failed:", err)
			return 3
		}
		c.Close()
		fmt.Println("connected")
		return 0
	case "env":
		for _, k := range args[1:] {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "helper: unknown command %q\n", args[0])
	return 2
}

// harness runs a Runner on a fresh SQLite store and local artifact store.
type harness struct {
	t      testing.TB
	runner *jobs.Runner
	store  *store.Store
	blob   *blob.Local
	cfg    jobs.Config
	cancel context.CancelFunc
	done   chan error
}

// testImages are the images the tests run: shell scripts and the test binary's helpers.
func testImages(exe string) []runtime.Mapping {
	return []runtime.Mapping{
		{Image: "test/sh", Entrypoint: []string{"/bin/sh", "-c"}},
		{Image: "test/helper", Entrypoint: []string{exe}, Env: []string{helperEnv + "=1"}},
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newHarness(t testing.TB, st *store.Store, adjust ...func(*jobs.Config)) *harness {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if st == nil {
		st = storetest.SQLite(t)
	}
	bl, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bl.Close() })
	py := os.Getenv("SLUICE_TEST_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	cat, err := runtime.NewCatalog(runtime.CatalogConfig{Executable: exe, Python: py, Mappings: testImages(exe)})
	if err != nil {
		t.Fatal(err)
	}
	proc, err := runtime.NewProcess(runtime.ProcessConfig{InitPath: exe, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := jobs.Config{
		Store: st, Blob: bl, Catalog: cat, Process: proc,
		Dir: t.TempDir(), Slots: 2, StopGrace: 2 * time.Second, Poll: 50 * time.Millisecond,
		Log: testLogger(t),
	}
	for _, a := range adjust {
		a(&cfg)
	}
	return startHarness(t, cfg, bl)
}

func startHarness(t testing.TB, cfg jobs.Config, bl *blob.Local) *harness {
	t.Helper()
	r, err := jobs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, runner: r, store: cfg.Store, blob: bl, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- r.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

// stop ends the runner as a server shutdown does; calling it twice is fine.
func (h *harness) stop() {
	h.cancel()
	select {
	case err, ok := <-h.done:
		if ok && err != nil {
			h.t.Errorf("runner: %v", err)
		}
		if ok {
			close(h.done)
		}
	case <-time.After(30 * time.Second):
		h.t.Errorf("runner did not stop")
	}
}

// put stores an object in the artifact store.
func (h *harness) put(uri, content string) {
	h.t.Helper()
	u := blob.MustParseURI(uri)
	if err := h.blob.Put(context.Background(), u, strings.NewReader(content), int64(len(content))); err != nil {
		h.t.Fatal(err)
	}
}

// get reads an object from the artifact store.
func (h *harness) get(uri string) string {
	h.t.Helper()
	rc, err := h.blob.Get(context.Background(), blob.MustParseURI(uri))
	if err != nil {
		h.t.Fatalf("get %s: %v", uri, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func waitCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// processing builds a processing job running a shell script.
func processing(name, script string) *jobs.ProcessingJobSpec {
	return &jobs.ProcessingJobSpec{
		ProcessingJobName:   name,
		AppSpecification:    &jobs.AppSpecification{ImageUri: "test/sh", ContainerArguments: []string{script}},
		ProcessingResources: &jobs.ProcessingResources{ClusterConfig: &jobs.ProcessingClusterConfig{InstanceCount: 1, InstanceType: "ml.m5.large", VolumeSizeInGB: 1}},
		RoleArn:             "arn:aws:iam::000000000000:role/test",
	}
}

// training builds a training job running a shell script.
func training(name, script string) *jobs.TrainingJobSpec {
	one := int32(1)
	return &jobs.TrainingJobSpec{
		TrainingJobName:        name,
		AlgorithmSpecification: &jobs.AlgorithmSpecification{TrainingImage: "test/sh", TrainingInputMode: "File", ContainerArguments: []string{script}},
		OutputDataConfig:       &jobs.OutputDataConfig{S3OutputPath: "s3://out/models"},
		ResourceConfig:         &jobs.ResourceConfig{InstanceType: "ml.m5.large", InstanceCount: &one, VolumeSizeInGB: 1},
		StoppingCondition:      &jobs.StoppingCondition{MaxRuntimeInSeconds: 600},
		RoleArn:                "arn:aws:iam::000000000000:role/test",
	}
}

func (h *harness) createProcessing(spec *jobs.ProcessingJobSpec) {
	h.t.Helper()
	if _, err := h.runner.CreateProcessingJob(context.Background(), spec); err != nil {
		h.t.Fatalf("CreateProcessingJob(%s): %v", spec.ProcessingJobName, err)
	}
}

func (h *harness) createTraining(spec *jobs.TrainingJobSpec) {
	h.t.Helper()
	if _, err := h.runner.CreateTrainingJob(context.Background(), spec); err != nil {
		h.t.Fatalf("CreateTrainingJob(%s): %v", spec.TrainingJobName, err)
	}
}

func (h *harness) waitProcessing(name string) *jobs.ProcessingJob {
	h.t.Helper()
	j, err := h.runner.WaitProcessingJob(waitCtx(h.t), name)
	if err != nil {
		h.t.Fatalf("WaitProcessingJob(%s): %v", name, err)
	}
	return j
}

func (h *harness) waitTraining(name string) *jobs.TrainingJob {
	h.t.Helper()
	j, err := h.runner.WaitTrainingJob(waitCtx(h.t), name)
	if err != nil {
		h.t.Fatalf("WaitTrainingJob(%s): %v", name, err)
	}
	return j
}

// log returns a job's whole log.
func (h *harness) log(kind jobs.Kind, name string) string {
	h.t.Helper()
	var b strings.Builder
	if err := h.runner.StreamLog(context.Background(), kind, name, 0, false, &b, nil); err != nil {
		h.t.Fatalf("log of %s: %v", name, err)
	}
	return b.String()
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRunning waits until the job's process has started.
func (h *harness) waitRunning(arn string) store.Job {
	h.t.Helper()
	var j store.Job
	waitFor(h.t, arn+" to run", func() bool {
		var err error
		j, err = h.store.Job(context.Background(), arn)
		return err == nil && j.PID > 0
	})
	return j
}

func statuses(ts []jobs.Transition) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Status)
	}
	return strings.Join(s, ",")
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func isErr[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func hostFile(t testing.TB, content string) string {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte(content), 0o644)
	return p
}
