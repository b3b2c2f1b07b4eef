package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

// fakeJob is a job of fakeJobs.
type fakeJob struct {
	kind    jobs.Kind
	name    string
	arn     string
	status  string
	reason  string
	proc    *jobs.ProcessingJobSpec
	train   *jobs.TrainingJobSpec
	step    string // the pipeline step, from the job name
	attempt int
}

// fakeJobs stands in for the job runner at the seam the engine declares (JobRunner). Jobs do
// nothing but what the test's script says; their state changes are written to the outbox as
// the real runner writes them, so the engine is woken the same way.
type fakeJobs struct {
	t     testing.TB
	st    *store.Store
	blob  blob.Store
	arns  awsapi.ARNs
	mu    sync.Mutex
	jobs  map[string]*fakeJob
	order []*fakeJob
	// script decides how a new job ends: a final status and reason, or "" to leave it running
	// until the test ends it. Nil completes every job.
	script func(j *fakeJob) (status, reason string)
	// createFaults is how many Create*Job calls fail as a broken service would.
	createFaults      int
	active, maxActive int
	creates           int
}

func newFakeJobs(t testing.TB, st *store.Store, bs blob.Store) *fakeJobs {
	return &fakeJobs{t: t, st: st, blob: bs, arns: awsapi.ARNs{Region: "us-east-1", AccountID: "000000000000"}, jobs: map[string]*fakeJob{}}
}

func (f *fakeJobs) create(kind jobs.Kind, name string, proc *jobs.ProcessingJobSpec, train *jobs.TrainingJobSpec) (string, error) {
	f.mu.Lock()
	if f.createFaults > 0 {
		f.createFaults--
		f.mu.Unlock()
		return "", errors.New("store: begin: database is locked")
	}
	if j, ok := f.jobs[name]; ok {
		f.mu.Unlock()
		return "", &jobs.ExistsError{ARN: j.arn}
	}
	j := &fakeJob{kind: kind, name: name, arn: f.arns.For(string(kind)+"-job", name), status: jobs.StatusInProgress, proc: proc, train: train}
	f.jobs[name] = j
	f.order = append(f.order, j)
	f.creates++
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	script := f.script
	f.mu.Unlock()
	f.emit(j)
	status, reason := jobs.StatusCompleted, ""
	if script != nil {
		status, reason = script(j)
	}
	if status != "" {
		go f.finish(name, status, reason)
	}
	return j.arn, nil
}

// finish ends a job the way the runner does: a status change written with its event.
func (f *fakeJobs) finish(name, status, reason string) {
	f.mu.Lock()
	j := f.jobs[name]
	if j == nil || jobs.Terminal(j.status) {
		f.mu.Unlock()
		return
	}
	j.status, j.reason = status, reason
	if jobs.Terminal(status) {
		f.active--
	}
	f.mu.Unlock()
	f.emit(j)
}

func (f *fakeJobs) emit(j *fakeJob) {
	member := "ProcessingJobStatus"
	if j.kind == jobs.KindTraining {
		member = "TrainingJobStatus"
	}
	f.mu.Lock()
	detail := map[string]any{member: j.status}
	f.mu.Unlock()
	typ := jobs.EventProcessingJobStateChange
	if j.kind == jobs.KindTraining {
		typ = jobs.EventTrainingJobStateChange
	}
	err := f.st.InTx(context.Background(), func(tx *store.Tx) error { return events.Emit(context.Background(), tx, typ, []string{j.arn}, detail) })
	if err != nil && !strings.Contains(err.Error(), "closed") {
		f.t.Errorf("fake job event: %v", err)
	}
}

func (f *fakeJobs) get(name string) (*fakeJob, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[name]
	if !ok {
		return nil, jobs.ErrNotFound
	}
	cp := *j
	return &cp, nil
}

func (f *fakeJobs) CreateProcessingJob(ctx context.Context, spec *jobs.ProcessingJobSpec) (string, error) {
	cp := *spec
	return f.create(jobs.KindProcessing, spec.ProcessingJobName, &cp, nil)
}

func (f *fakeJobs) DescribeProcessingJob(ctx context.Context, name string) (*jobs.ProcessingJob, error) {
	j, err := f.get(name)
	if err != nil {
		return nil, err
	}
	return &jobs.ProcessingJob{ProcessingJobSpec: *j.proc, ProcessingJobArn: j.arn, ProcessingJobStatus: j.status, FailureReason: j.reason}, nil
}

func (f *fakeJobs) stop(name string) error {
	f.mu.Lock()
	j, ok := f.jobs[name]
	if !ok {
		f.mu.Unlock()
		return jobs.ErrNotFound
	}
	if jobs.Terminal(j.status) {
		f.mu.Unlock()
		return &jobs.InvalidError{Msg: "the job has ended"}
	}
	j.status = jobs.StatusStopping
	f.mu.Unlock()
	f.emit(j)
	go f.finish(name, jobs.StatusStopped, "")
	return nil
}

func (f *fakeJobs) StopProcessingJob(ctx context.Context, name string) error { return f.stop(name) }

func (f *fakeJobs) CreateTrainingJob(ctx context.Context, spec *jobs.TrainingJobSpec) (string, error) {
	cp := *spec
	return f.create(jobs.KindTraining, spec.TrainingJobName, nil, &cp)
}

func (f *fakeJobs) DescribeTrainingJob(ctx context.Context, name string) (*jobs.TrainingJob, error) {
	j, err := f.get(name)
	if err != nil {
		return nil, err
	}
	return &jobs.TrainingJob{
		TrainingJobSpec: *j.train, TrainingJobArn: j.arn, TrainingJobStatus: j.status, FailureReason: j.reason,
		S3ModelArtifacts:    strings.TrimSuffix(j.train.OutputDataConfig.S3OutputPath, "/") + "/" + name + "/output/model.tar.gz",
		FinalMetricDataList: []jobs.MetricData{{MetricName: "validation:rmse", Value: 2.5}},
	}, nil
}

func (f *fakeJobs) StopTrainingJob(ctx context.Context, name string) error { return f.stop(name) }

// created returns the jobs created so far, in order.
func (f *fakeJobs) created() []*fakeJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*fakeJob, len(f.order))
	for i, j := range f.order {
		cp := *j
		out[i] = &cp
	}
	return out
}

// fakeModels is a ModelService keeping models in memory.
type fakeModels struct {
	mu     sync.Mutex
	models map[string]hosting.Model
}

func (m *fakeModels) CreateModel(ctx context.Context, in hosting.NewModel) (hosting.Model, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.models == nil {
		m.models = map[string]hosting.Model{}
	}
	if _, ok := m.models[in.ModelName]; ok {
		return hosting.Model{}, &hosting.Error{Kind: hosting.ErrExists, Message: "exists"}
	}
	md := hosting.Model{ModelName: in.ModelName, ModelArn: "arn:aws:sagemaker:us-east-1:000000000000:model/" + strings.ToLower(in.ModelName),
		PrimaryContainer: in.PrimaryContainer, ExecutionRoleArn: in.ExecutionRoleArn, CreationTime: time.Now()}
	m.models[in.ModelName] = md
	return md, nil
}

func (m *fakeModels) DescribeModel(ctx context.Context, name string) (hosting.Model, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	md, ok := m.models[name]
	if !ok {
		return hosting.Model{}, &hosting.Error{Kind: hosting.ErrNotFound, Message: "Could not find model " + name}
	}
	return md, nil
}

// harness is an engine on a fresh SQLite store, with the fake job runner, a real local
// artifact store and a real model registry.
type harness struct {
	t      testing.TB
	st     *store.Store
	blob   blob.Store
	jobs   *fakeJobs
	models *fakeModels
	reg    *registry.Service
	eng    *Engine
	clock  *testClock
	cancel context.CancelFunc
	done   chan struct{}
}

// testClock is a settable clock; it runs with real time unless set.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type harnessOption func(*EngineConfig)

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	return newHarnessOn(t, storetest.SQLite(t), opts...)
}

// newHarnessOn builds the harness on a given store (PostgreSQL for the gated tests).
func newHarnessOn(t testing.TB, st *store.Store, opts ...harnessOption) *harness {
	t.Helper()
	bs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"bucket", DefaultBucket} {
		if err := bs.EnsureBucket(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{t: t, st: st, blob: bs, jobs: newFakeJobs(t, st, bs), models: &fakeModels{}, clock: &testClock{}}
	h.reg = &registry.Service{Store: st, ARNs: awsapi.ARNs{Region: "us-east-1", AccountID: "000000000000"}, Now: h.clock.Now}
	h.startEngine(opts...)
	return h
}

// startEngine starts (or restarts) the engine on the harness's store.
func (h *harness) startEngine(opts ...harnessOption) {
	h.t.Helper()
	cfg := EngineConfig{Store: h.st, Blob: h.blob, Jobs: h.jobs, Registry: h.reg, Models: h.models, Now: h.clock.Now, Poll: 200 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	eng, err := NewEngine(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.eng, h.cancel, h.done = eng, cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		if err := eng.Run(ctx); err != nil {
			h.t.Errorf("engine: %v", err)
		}
	}()
	h.t.Cleanup(h.stopEngine)
	// Wait until Run has started, so that executions started next are launched at once.
	for i := 0; ; i++ {
		eng.mu.Lock()
		running := eng.running
		eng.mu.Unlock()
		if running {
			return
		}
		if i > 1000 {
			h.t.Fatal("engine did not start")
		}
		time.Sleep(time.Millisecond)
	}
}

// stopEngine stops the engine as a server shutdown does.
func (h *harness) stopEngine() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.cancel = nil
}

// definition renders a definition from its steps and parameters.
func definition(params []map[string]any, steps ...map[string]any) string {
	if params == nil {
		params = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"Version": Version, "Metadata": map[string]any{}, "Parameters": params, "Steps": steps})
	return string(b)
}

func (h *harness) createPipeline(name, def string) {
	h.t.Helper()
	if _, err := h.eng.CreatePipeline(context.Background(), registry.Actor{Name: "test"}, NewPipeline{Name: name, Definition: def, RoleARN: "arn:aws:iam::000000000000:role/Pipe"}); err != nil {
		h.t.Fatalf("create pipeline: %v", err)
	}
}

func (h *harness) start(name string, params ...ParameterValue) Execution {
	h.t.Helper()
	x, err := h.eng.StartExecution(context.Background(), registry.Actor{Name: "test"}, StartRequest{Pipeline: name, Parameters: params})
	if err != nil {
		h.t.Fatalf("start: %v", err)
	}
	return x
}

// wait polls until the execution's status is one of want, and fails the test after 10 s.
func (h *harness) wait(arn string, want ...string) Execution {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		x, err := h.eng.DescribeExecution(context.Background(), arn)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, w := range want {
			if x.Status == w {
				return x
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("execution is %s (%s), want %v; steps:\n%s", x.Status, x.FailureReason, want, h.describeSteps(arn))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStep polls until a step has the status.
func (h *harness) waitStep(arn, step, status string) StepInfo {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, ok := h.steps(arn)[step]; ok && s.Status == status {
			return s
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("step %s did not reach %s; steps:\n%s", step, status, h.describeSteps(arn))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) steps(arn string) map[string]StepInfo {
	h.t.Helper()
	page, err := h.eng.ListSteps(context.Background(), StepQuery{Execution: arn})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]StepInfo{}
	for _, s := range page.Steps {
		out[s.Name] = s
	}
	return out
}

func (h *harness) describeSteps(arn string) string {
	page, _ := h.eng.ListSteps(context.Background(), StepQuery{Execution: arn, Ascending: true})
	var b bytes.Buffer
	for _, s := range page.Steps {
		fmt.Fprintf(&b, "  %s %s attempt=%d %s %s\n", s.Name, s.Status, s.AttemptCount, s.FailureReason, s.Metadata)
	}
	return b.String()
}

// put writes an object to the artifact store.
func (h *harness) put(uri, content string) {
	h.t.Helper()
	u := blob.MustParseURI(uri)
	if err := h.blob.Put(context.Background(), u, strings.NewReader(content), int64(len(content))); err != nil {
		h.t.Fatal(err)
	}
}

// metadata decodes a step's Metadata.
func metadata(t *testing.T, s StepInfo) map[string]map[string]any {
	t.Helper()
	var m map[string]map[string]any
	if err := json.Unmarshal(s.Metadata, &m); err != nil {
		t.Fatalf("metadata of %s: %v (%s)", s.Name, err, s.Metadata)
	}
	return m
}

// Step builders.

func processingStep(name string, outputs ...string) map[string]any {
	var outs []any
	for _, o := range outputs {
		// As the SDK writes an output location it chooses: a join over the execution id.
		uri := map[string]any{"Std:Join": map[string]any{"On": "/", "Values": []any{
			"s3:/", DefaultBucket, get("Execution.PipelineName"), get("Execution.PipelineExecutionId"), name, "output", o}}}
		outs = append(outs, map[string]any{"OutputName": o, "S3Output": map[string]any{"S3Uri": uri, "LocalPath": "/opt/ml/processing/" + o, "S3UploadMode": "EndOfJob"}})
	}
	args := map[string]any{
		"ProcessingResources": map[string]any{"ClusterConfig": map[string]any{"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}},
		"AppSpecification":    map[string]any{"ImageUri": "sluice/synth"},
		"RoleArn":             "arn:aws:iam::000000000000:role/Pipe",
	}
	if len(outs) > 0 {
		args["ProcessingOutputConfig"] = map[string]any{"Outputs": outs}
	}
	return map[string]any{"Name": name, "Type": "Processing", "Arguments": args}
}

func trainingStep(name string, trainURI any) map[string]any {
	return map[string]any{"Name": name, "Type": "Training", "Arguments": map[string]any{
		"AlgorithmSpecification": map[string]any{"TrainingImage": "sluice/xgboost", "TrainingInputMode": "File"},
		"ResourceConfig":         map[string]any{"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
		"StoppingCondition":      map[string]any{"MaxRuntimeInSeconds": 3600},
		"OutputDataConfig":       map[string]any{"S3OutputPath": "s3://" + DefaultBucket + "/models/" + name},
		"RoleArn":                "arn:aws:iam::000000000000:role/Pipe",
		"HyperParameters":        map[string]any{"num_round": "10"},
		"InputDataConfig": []any{map[string]any{"ChannelName": "train", "ContentType": "text/csv",
			"DataSource": map[string]any{"S3DataSource": map[string]any{"S3DataType": "S3Prefix", "S3Uri": trainURI}}}},
	}}
}

func get(path string) map[string]any { return map[string]any{"Get": path} }

func with(step map[string]any, key string, v any) map[string]any {
	step[key] = v
	return step
}
