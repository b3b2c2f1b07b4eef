package transform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/runtime"
	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
	"github.com/sluice-ml/sluice/internal/transform"
)

// helperEnv makes the test binary run as a user's model server container (see modelServer).
const helperEnv = "SLUICE_TRANSFORM_TEST_MODEL"

// TestMain lets the test binary stand in for the sluice binary as the runtime's init shim and
// for a user's model server image.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitCommand {
		os.Exit(runtime.InitMain(os.Args[2:]))
	}
	if os.Getenv(helperEnv) != "" {
		os.Exit(modelServer())
	}
	os.Exit(m.Run())
}

// modelServer is a container following SageMaker's serving contract, including batch
// transform's GET /execution-parameters. It answers each line of a text/csv request with the
// sum of the line's numbers, one answer per line. A line holding "poison" makes it answer 400;
// "sleep:MS" makes it wait; "env:NAME" answers the variable's value. It records the most
// requests it had in flight at once in the file STATS_FILE names.
func modelServer() int {
	port := os.Getenv("SAGEMAKER_BIND_TO_PORT")
	var inflight, most atomic.Int32
	var mu sync.Mutex
	record := func() {
		mu.Lock()
		defer mu.Unlock()
		if f := os.Getenv("STATS_FILE"); f != "" {
			os.WriteFile(f, []byte(strconv.Itoa(int(most.Load()))), 0o644)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /execution-parameters", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("NO_EXECUTION_PARAMETERS") != "" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}`)
	})
	mux.HandleFunc("POST /invocations", func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		record()
		body, _ := io.ReadAll(r.Body)
		var out bytes.Buffer
		for i, line := range strings.Split(strings.TrimRight(string(body), "\n"), "\n") {
			if i > 0 {
				out.WriteByte('\n')
			}
			switch {
			case strings.Contains(line, "poison"):
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, "cannot read %q", line)
				return
			case strings.HasPrefix(line, "sleep:"):
				ms, _ := strconv.Atoi(strings.TrimPrefix(line, "sleep:"))
				time.Sleep(time.Duration(ms) * time.Millisecond)
				out.WriteString("slept")
				continue
			case strings.HasPrefix(line, "env:"):
				out.WriteString(os.Getenv(strings.TrimPrefix(line, "env:")))
				continue
			}
			sum := 0.0
			for _, f := range strings.Split(line, ",") {
				v, _ := strconv.ParseFloat(strings.TrimSpace(f), 64)
				sum += v
			}
			out.WriteString(strconv.FormatFloat(sum, 'g', -1, 64))
		}
		w.Header().Set("Content-Type", "text/csv")
		w.Write(out.Bytes())
	})
	if err := http.ListenAndServe("127.0.0.1:"+port, mux); err != nil {
		fmt.Fprintln(os.Stderr, "model server:", err)
		return 1
	}
	return 0
}

// containerImage is the image the test binary's model server stands for.
const containerImage = "registry.local/sum-model:1"

// xgbImage is SageMaker's XGBoost image, which Sluice serves in-process.
const xgbImage = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

// env is a transform service on a fresh SQLite store and local artifact store, with a running
// job runner and a real model host.
type env struct {
	t      *testing.T
	svc    *transform.Service
	runner *jobs.Runner
	models *hosting.Service
	blob   *blob.Local
	store  *store.Store
	dir    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cat, err := runtime.NewCatalog(runtime.CatalogConfig{Executable: exe, Mappings: []runtime.Mapping{
		{Image: containerImage, Entrypoint: []string{exe}, Env: []string{helperEnv + "=1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	proc, err := runtime.NewProcess(runtime.ProcessConfig{InitPath: exe, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	for _, b := range []string{"data", "out", "models", jobs.DefaultLogBucket} {
		if err := bs.EnsureBucket(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	st := storetest.SQLite(t)
	host, err := serving.NewHost(serving.HostConfig{Blob: bs, Catalog: cat, Runtime: proc, WorkDir: filepath.Join(dir, "serving"), PreferredPort: -1, StopGrace: 2 * time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	models := &hosting.Service{Store: st, ARNs: awsapi.ARNs{Region: "us-east-1", AccountID: "000000000000"}, Images: host}
	runner, err := jobs.New(jobs.Config{Store: st, Blob: bs, Catalog: cat, Process: proc, Dir: filepath.Join(dir, "jobs"), Poll: 100 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := transform.New(transform.Config{Jobs: runner, Store: st, Blob: bs, Models: models, Host: host, Log: log, ProgressEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &env{t: t, svc: svc, runner: runner, models: models, blob: bs, store: st, dir: dir}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimSpace(p))
	return len(p), nil
}

// tinyModel predicts 0.5 + (x0 < 0.5 ? -1 : 1) + (x1 < 2 ? 0.25 : -0.25) from three features,
// missing values going left.
func tinyModel() *xgboost.Model {
	tree := func(feat int32, cond, left, right float32) xgboost.Tree {
		return xgboost.Tree{
			LeftChildren:    []int32{1, xgboost.NoChild, xgboost.NoChild},
			RightChildren:   []int32{2, xgboost.NoChild, xgboost.NoChild},
			SplitIndices:    []int32{feat, 0, 0},
			SplitConditions: []float32{cond, left, right},
			DefaultLeft:     []bool{true, false, false},
		}
	}
	return &xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: 3,
		Trees: []xgboost.Tree{tree(0, 0.5, -1, 1), tree(1, 2, 0.25, -0.25)}}
}

// tinyPredict is tinyModel's prediction, as text.
func tinyPredict(x0, x1 float64) string {
	p := 0.5
	if x0 < 0.5 {
		p--
	} else {
		p++
	}
	if x1 < 2 {
		p += 0.25
	} else {
		p -= 0.25
	}
	return strconv.FormatFloat(p, 'g', -1, 32)
}

// xgbModel uploads tinyModel as a model.tar.gz and creates a SageMaker model for it.
func (e *env) xgbModel(name string) {
	e.t.Helper()
	dir := e.t.TempDir()
	f, err := os.Create(filepath.Join(dir, "xgboost-model"))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := tinyModel().WriteJSON(f); err != nil {
		e.t.Fatal(err)
	}
	f.Close()
	var buf bytes.Buffer
	if err := blob.PackDir(dir, &buf); err != nil {
		e.t.Fatal(err)
	}
	e.put("s3://models/"+name+"/model.tar.gz", buf.Bytes())
	e.model(name, hosting.ContainerDefinition{Image: xgbImage, ModelDataUrl: "s3://models/" + name + "/model.tar.gz"})
}

func (e *env) model(name string, c hosting.ContainerDefinition) {
	e.t.Helper()
	if _, err := e.models.CreateModel(context.Background(), hosting.NewModel{ModelName: name, PrimaryContainer: &c}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) put(uri string, data []byte) {
	e.t.Helper()
	if err := e.blob.Put(context.Background(), blob.MustParseURI(uri), bytes.NewReader(data), int64(len(data))); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(uri string) (string, bool) {
	e.t.Helper()
	rc, err := e.blob.Get(context.Background(), blob.MustParseURI(uri))
	if errors.Is(err, blob.ErrNotExist) {
		return "", false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b), true
}

func (e *env) mustGet(uri string) string {
	e.t.Helper()
	s, ok := e.get(uri)
	if !ok {
		e.t.Fatalf("%s was not written", uri)
	}
	return s
}

// spec is a job over the prefix with the model, as the SDK would send it.
func spec(name, model, input, output string) *transform.Spec {
	return &transform.Spec{
		TransformJobName:   name,
		ModelName:          model,
		TransformInput:     &transform.Input{DataSource: &transform.DataSource{S3DataSource: &transform.S3DataSource{S3DataType: "S3Prefix", S3Uri: input}}, ContentType: "text/csv", SplitType: "Line"},
		TransformOutput:    &transform.Output{S3OutputPath: output, AssembleWith: "Line", Accept: "text/csv"},
		TransformResources: &transform.Resources{InstanceType: "ml.m5.xlarge", InstanceCount: 1},
	}
}

// run creates the job and waits for its end.
func (e *env) run(s *transform.Spec) *transform.Job {
	e.t.Helper()
	if _, err := e.svc.CreateTransformJob(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
	return e.wait(s.TransformJobName)
}

func (e *env) wait(name string) *transform.Job {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	j, err := e.svc.WaitTransformJob(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func (e *env) log(name string) string {
	var buf bytes.Buffer
	e.runner.StreamLog(context.Background(), jobs.KindTransform, name, 0, false, &buf, nil)
	return buf.String()
}

func (e *env) mustComplete(j *transform.Job) {
	e.t.Helper()
	if j.TransformJobStatus != jobs.StatusCompleted {
		e.t.Fatalf("job %s is %s: %s\n%s", j.TransformJobName, j.TransformJobStatus, j.FailureReason, e.log(j.TransformJobName))
	}
}

func i32(v int32) *int32 { return &v }

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func errorsAs[T error](err error, target *T) bool { return errors.As(err, target) }
