package jobs_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

func TestProcessingJobStagesRunsAndUploads(t *testing.T) {
	h := newHarness(t, nil)
	h.put("s3://data/raw/a.csv", "1,2\n3,4\n")
	h.put("s3://data/raw/sub/b.csv", "5,6\n")
	h.put("s3://data/manifests/m.json", `[{"prefix": "s3://data/raw/"}, "a.csv"]`)
	spec := processing("prep-1", `
set -e
cat /opt/ml/processing/input/a.csv /opt/ml/processing/input/sub/b.csv | wc -l > /opt/ml/processing/out/rows.txt
ls /opt/ml/processing/manifest > /opt/ml/processing/out/manifest.txt
grep -q '"ProcessingJobName": "prep-1"' /opt/ml/config/processingjobconfig.json
grep -q '"current_host": "algo-1"' /opt/ml/config/resourceconfig.json
echo "greeting=$GREETING"
mkdir -p /opt/ml/processing/out/nested && echo deep > /opt/ml/processing/out/nested/x.txt
`)
	spec.Environment = map[string]string{"GREETING": "hello"}
	spec.ProcessingInputs = []jobs.ProcessingInput{
		{InputName: "raw", S3Input: &jobs.ProcessingS3Input{S3Uri: "s3://data/raw", LocalPath: "/opt/ml/processing/input", S3DataType: "S3Prefix", S3InputMode: "File"}},
		{InputName: "listed", S3Input: &jobs.ProcessingS3Input{S3Uri: "s3://data/manifests/m.json", LocalPath: "/opt/ml/processing/manifest", S3DataType: "ManifestFile", S3InputMode: "File"}},
	}
	spec.ProcessingOutputConfig = &jobs.ProcessingOutputConfig{Outputs: []jobs.ProcessingOutput{
		{OutputName: "out", S3Output: &jobs.ProcessingS3Output{S3Uri: "s3://results/prep-1/out", LocalPath: "/opt/ml/processing/out", S3UploadMode: "EndOfJob"}},
	}}
	spec.Tags = []jobs.Tag{{Key: "team", Value: "ml"}}
	arn, err := h.runner.CreateProcessingJob(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if arn != "arn:aws:sagemaker:us-east-1:000000000000:processing-job/prep-1" {
		t.Errorf("ARN = %s", arn)
	}
	j := h.waitProcessing("prep-1")
	if j.ProcessingJobStatus != jobs.StatusCompleted {
		t.Fatalf("status %s (%s); log:\n%s", j.ProcessingJobStatus, j.FailureReason, h.log(jobs.KindProcessing, "prep-1"))
	}
	if got := strings.TrimSpace(h.get("s3://results/prep-1/out/rows.txt")); got != "3" {
		t.Errorf("rows.txt = %q", got)
	}
	if got := strings.TrimSpace(h.get("s3://results/prep-1/out/manifest.txt")); got != "a.csv" {
		t.Errorf("manifest input = %q, want only a.csv", got)
	}
	if got := strings.TrimSpace(h.get("s3://results/prep-1/out/nested/x.txt")); got != "deep" {
		t.Errorf("nested output = %q", got)
	}
	if got := statuses(j.Transitions); got != "Starting,Downloading,Processing,Uploading,Completed" {
		t.Errorf("timeline %s", got)
	}
	if j.ProcessingStartTime.IsZero() || j.ProcessingEndTime.Before(j.ProcessingStartTime) || j.Attempt != 1 {
		t.Errorf("times start=%v end=%v attempt=%d", j.ProcessingStartTime, j.ProcessingEndTime, j.Attempt)
	}
	if j.Environment["GREETING"] != "hello" || j.AppSpecification.ImageUri != "test/sh" || j.Tags != nil {
		t.Errorf("echoed request %s", mustJSON(j.ProcessingJobSpec))
	}
	if log := h.log(jobs.KindProcessing, "prep-1"); !strings.Contains(log, "greeting=hello") {
		t.Errorf("log = %q", log)
	}
	if got := h.get("s3://sluice-logs/processing-jobs/prep-1/algo-1.log"); !strings.Contains(got, "greeting=hello") {
		t.Errorf("stored log = %q", got)
	}
	tags, _ := h.store.Tags(context.Background(), arn, "", 10)
	if len(tags) != 1 || tags[0].Key != "team" {
		t.Errorf("tags = %v", tags)
	}
	waitFor(t, "the workspace to be removed", func() bool {
		_, err := os.Stat(filepath.Join(h.cfg.Dir, "processing", "prep-1", "ml"))
		return os.IsNotExist(err)
	})
	evs, _ := h.store.EventsAfter(context.Background(), 0, 100)
	var seen []string
	for _, ev := range evs {
		if ev.DetailType == jobs.EventProcessingJobStateChange {
			seen = append(seen, string(ev.Detail))
		}
	}
	if len(seen) < 2 || !strings.Contains(seen[len(seen)-1], `"ProcessingJobStatus":"Completed"`) {
		t.Errorf("events = %v", seen)
	}
}

func TestTrainingJobWritesModelAndMetrics(t *testing.T) {
	h := newHarness(t, nil)
	h.put("s3://data/train/part-1.csv", "a\nb\nc\n")
	h.put("s3://data/validation/v.csv", "x\n")
	spec := training("train-1", `
set -e
test "$SM_CHANNEL_TRAIN" = /opt/ml/input/data/train
test "$SM_MODEL_DIR" = /opt/ml/model
test "$TRAINING_JOB_NAME" = train-1
grep -q '"max_depth": "5"' /opt/ml/input/config/hyperparameters.json
grep -q '"ContentType": "text/csv"' /opt/ml/input/config/inputdataconfig.json
grep -q algo-1 /opt/ml/input/config/resourceconfig.json
n=$(cat "$SM_CHANNEL_TRAIN"/part-1.csv | wc -l)
for i in 1 2 3; do echo "epoch=$i train_loss=0.$((10 - i)) rows=$n"; done
echo "validation:rmse 1.5e-1"
echo "max_depth=$SM_HP_MAX_DEPTH" > "$SM_MODEL_DIR/model.txt"
echo report > /opt/ml/output/data/report.txt
`)
	spec.HyperParameters = map[string]string{"max_depth": "5"}
	spec.InputDataConfig = []jobs.Channel{
		{ChannelName: "train", ContentType: "text/csv", DataSource: &jobs.DataSource{S3DataSource: &jobs.S3DataSource{S3DataType: "S3Prefix", S3Uri: "s3://data/train/"}}},
		{ChannelName: "validation", DataSource: &jobs.DataSource{S3DataSource: &jobs.S3DataSource{S3DataType: "S3Prefix", S3Uri: "s3://data/validation"}}},
	}
	spec.AlgorithmSpecification.MetricDefinitions = []jobs.MetricDefinition{
		{Name: "train:loss", Regex: `train_loss=([0-9.]+)`},
		{Name: "validation:rmse", Regex: `validation:rmse ([-+0-9.e]+)`},
		{Name: "never", Regex: `never=([0-9]+)`},
	}
	h.createTraining(spec)
	j := h.waitTraining("train-1")
	if j.TrainingJobStatus != jobs.StatusCompleted {
		t.Fatalf("status %s (%s); log:\n%s", j.TrainingJobStatus, j.FailureReason, h.log(jobs.KindTraining, "train-1"))
	}
	if j.S3ModelArtifacts != "s3://out/models/train-1/output/model.tar.gz" {
		t.Errorf("model artifacts %s", j.S3ModelArtifacts)
	}
	files := untar(t, h.get(j.S3ModelArtifacts))
	if files["model.txt"] != "max_depth=5\n" {
		t.Errorf("model.tar.gz holds %v", files)
	}
	if out := untar(t, h.get("s3://out/models/train-1/output/output.tar.gz")); out["report.txt"] != "report\n" {
		t.Errorf("output.tar.gz holds %v", out)
	}
	if got := statuses(j.SecondaryStatusTransitions); got != "Starting,Downloading,Training,Uploading,Completed" {
		t.Errorf("transitions %s", got)
	}
	if j.SecondaryStatus != jobs.SecondaryCompleted || j.TrainingTimeInSeconds < 1 {
		t.Errorf("secondary %s, time %d", j.SecondaryStatus, j.TrainingTimeInSeconds)
	}
	got := map[string]float64{}
	for _, m := range j.FinalMetricDataList {
		got[m.MetricName] = m.Value
		if m.Timestamp.IsZero() {
			t.Errorf("metric %s has no timestamp", m.MetricName)
		}
	}
	if len(got) != 2 || got["train:loss"] != 0.7 || got["validation:rmse"] != 0.15 {
		t.Errorf("metrics %v", j.FinalMetricDataList)
	}
}

func untar(t *testing.T, data string) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(data))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if hdr.Typeflag == tar.TypeReg {
			out[hdr.Name] = string(b)
		}
	}
}

func tarGz(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		tw.Write([]byte(content))
	}
	tw.Close()
	zw.Close()
	return buf.String()
}

func TestTrainingScriptModeRunsTheSubmittedEntryPoint(t *testing.T) {
	h := newHarness(t, nil)
	h.put("s3://data/train/x.csv", "1\n")
	h.put("s3://code/job/source/sourcedir.tar.gz", tarGz(t, map[string]string{
		"train.sh": `echo "args: $*"; echo "cwd: $(pwd)"; cp "$SM_CHANNEL_TRAIN/x.csv" "$SM_MODEL_DIR/"`,
	}))
	spec := training("script-mode", "")
	spec.AlgorithmSpecification.TrainingImage = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
	spec.AlgorithmSpecification.ContainerArguments = nil
	spec.HyperParameters = map[string]string{
		"sagemaker_program":             `"train.sh"`,
		"sagemaker_submit_directory":    `"s3://code/job/source/sourcedir.tar.gz"`,
		"sagemaker_container_log_level": "20",
		"epochs":                        "3",
		"learning_rate":                 `"0.1"`,
	}
	spec.InputDataConfig = []jobs.Channel{{ChannelName: "train", DataSource: &jobs.DataSource{S3DataSource: &jobs.S3DataSource{S3DataType: "S3Prefix", S3Uri: "s3://data/train"}}}}
	h.createTraining(spec)
	j := h.waitTraining("script-mode")
	log := h.log(jobs.KindTraining, "script-mode")
	if j.TrainingJobStatus != jobs.StatusCompleted {
		t.Fatalf("status %s (%s); log:\n%s", j.TrainingJobStatus, j.FailureReason, log)
	}
	if !strings.Contains(log, "args: --epochs 3 --learning_rate 0.1") || !strings.Contains(log, "cwd: /opt/ml/code") {
		t.Errorf("log = %q", log)
	}
	if files := untar(t, h.get(j.S3ModelArtifacts)); files["x.csv"] != "1\n" {
		t.Errorf("model holds %v", files)
	}
}

func TestFailingJobReportsTheFailureFile(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		name, script, want string
	}{
		{"fail-file", `echo "ValueError: column 'rings' is missing" > /opt/ml/output/failure; exit 3`, "ValueError: column 'rings' is missing"},
		{"fail-bare", `echo oops >&2; exit 7`, "exited with code 7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.createTraining(training(c.name, c.script))
			j := h.waitTraining(c.name)
			if j.TrainingJobStatus != jobs.StatusFailed || j.SecondaryStatus != jobs.SecondaryFailed || !strings.Contains(j.FailureReason, c.want) {
				t.Fatalf("got %s/%s %q, want Failed with %q", j.TrainingJobStatus, j.SecondaryStatus, j.FailureReason, c.want)
			}
			h.createProcessing(processing(c.name, c.script))
			p := h.waitProcessing(c.name)
			if p.ProcessingJobStatus != jobs.StatusFailed || !strings.Contains(p.FailureReason, c.want) {
				t.Fatalf("processing: got %s %q, want Failed with %q", p.ProcessingJobStatus, p.FailureReason, c.want)
			}
		})
	}
	p := processing("exit-message", `echo "wrote 3 files" > /opt/ml/output/message`)
	h.createProcessing(p)
	if j := h.waitProcessing("exit-message"); j.ProcessingJobStatus != jobs.StatusCompleted || j.ExitMessage != "wrote 3 files" {
		t.Errorf("exit message: %s %q", j.ProcessingJobStatus, j.ExitMessage)
	}
}

func TestEmptyInputFailsTheJob(t *testing.T) {
	h := newHarness(t, nil)
	spec := processing("empty-input", "true")
	spec.ProcessingInputs = []jobs.ProcessingInput{{InputName: "in", S3Input: &jobs.ProcessingS3Input{S3Uri: "s3://data/nothing/", LocalPath: "/opt/ml/processing/in", S3DataType: "S3Prefix"}}}
	h.createProcessing(spec)
	j := h.waitProcessing("empty-input")
	if j.ProcessingJobStatus != jobs.StatusFailed || !strings.Contains(j.FailureReason, "No S3 objects found") {
		t.Errorf("got %s %q", j.ProcessingJobStatus, j.FailureReason)
	}
}

func TestMaxRuntimeStopsTheJob(t *testing.T) {
	h := newHarness(t, nil, func(c *jobs.Config) { c.StopGrace = 500 * time.Millisecond })
	spec := training("too-long", `echo started; sleep 30`)
	spec.StoppingCondition.MaxRuntimeInSeconds = 1
	h.createTraining(spec)
	p := processing("too-long", `trap '' TERM; echo started; sleep 30`)
	p.StoppingCondition = &jobs.StoppingCondition{MaxRuntimeInSeconds: 1}
	h.createProcessing(p)

	j := h.waitTraining("too-long")
	if j.TrainingJobStatus != jobs.StatusStopped || j.SecondaryStatus != jobs.SecondaryMaxRuntimeExceeded || !strings.Contains(j.FailureReason, "MaxRuntimeInSeconds (1 s)") {
		t.Errorf("training: %s/%s %q", j.TrainingJobStatus, j.SecondaryStatus, j.FailureReason)
	}
	if d := j.TrainingEndTime.Sub(j.TrainingStartTime); d < time.Second || d > 10*time.Second {
		t.Errorf("ran for %v", d)
	}
	pj := h.waitProcessing("too-long")
	if pj.ProcessingJobStatus != jobs.StatusStopped || !strings.Contains(pj.FailureReason, "MaxRuntimeInSeconds") {
		t.Errorf("processing: %s %q", pj.ProcessingJobStatus, pj.FailureReason)
	}
}

func TestStopRunningAndQueuedJobs(t *testing.T) {
	h := newHarness(t, nil, func(c *jobs.Config) { c.Slots = 1 })
	ctx := context.Background()
	h.createTraining(training("runs", `echo saving > /opt/ml/model/partial.txt; echo ready; sleep 30`))
	running := h.waitRunning(h.runner.ARN(jobs.KindTraining, "runs"))
	waitFor(t, "the job to save its model", func() bool { return strings.Contains(h.log(jobs.KindTraining, "runs"), "ready") })
	h.createProcessing(processing("waits", "sleep 30"))

	if err := h.runner.StopProcessingJob(ctx, "waits"); err != nil {
		t.Fatal(err)
	}
	if j, _ := h.runner.DescribeProcessingJob(ctx, "waits"); j.ProcessingJobStatus != jobs.StatusStopped || !j.ProcessingStartTime.IsZero() {
		t.Errorf("queued job after stop: %s, started %v", j.ProcessingJobStatus, j.ProcessingStartTime)
	}
	if err := h.runner.StopTrainingJob(ctx, "runs"); err != nil {
		t.Fatal(err)
	}
	j := h.waitTraining("runs")
	if j.TrainingJobStatus != jobs.StatusStopped || j.SecondaryStatus != jobs.SecondaryStopped {
		t.Fatalf("stopped job: %s/%s %s", j.TrainingJobStatus, j.SecondaryStatus, statuses(j.SecondaryStatusTransitions))
	}
	if !strings.Contains(statuses(j.SecondaryStatusTransitions), "Training,Stopping") {
		t.Errorf("transitions %s", statuses(j.SecondaryStatusTransitions))
	}
	if files := untar(t, h.get(j.S3ModelArtifacts)); files["partial.txt"] != "saving\n" {
		t.Errorf("a stopped job's model should be uploaded: %v", files)
	}
	waitFor(t, "the process group to end", func() bool { return !groupAlive(running.PID) })

	err := h.runner.StopTrainingJob(ctx, "runs")
	if !errors.Is(err, jobs.ErrInvalid) || !strings.Contains(err.Error(), "status Stopped") {
		t.Errorf("stopping a stopped job: %v", err)
	}
	if err := h.runner.StopTrainingJob(ctx, "nope"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("stopping a missing job: %v", err)
	}
}

func TestSlotsBoundConcurrency(t *testing.T) {
	h := newHarness(t, nil, func(c *jobs.Config) { c.Slots = 2 })
	ctx := context.Background()
	var peak atomic.Int32
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			running, _ := h.store.JobsInPhase(ctx, store.JobRunning)
			if n := int32(len(running)); n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	for i := range 5 {
		h.createProcessing(processing(fmt.Sprintf("slot-%d", i), "sleep 0.3"))
	}
	for i := range 5 {
		if j := h.waitProcessing(fmt.Sprintf("slot-%d", i)); j.ProcessingJobStatus != jobs.StatusCompleted {
			t.Errorf("slot-%d: %s", i, j.ProcessingJobStatus)
		}
	}
	close(stop)
	if p := peak.Load(); p != 2 {
		t.Errorf("peak running jobs = %d, want 2", p)
	}
}

func TestNetworkIsolation(t *testing.T) {
	h := newHarness(t, nil)
	if iso := h.cfg.Process.Isolation(context.Background()); !iso.Network {
		t.Skipf("SKIPPED: this host cannot create network namespaces, so isolation is untested: %s", iso.Reason)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	yes := true
	for _, c := range []struct {
		name     string
		isolated bool
		want     string
	}{
		{"open", false, jobs.StatusCompleted},
		{"isolated", true, jobs.StatusFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := training("net-"+c.name, "")
			spec.AlgorithmSpecification.TrainingImage = "test/helper"
			spec.AlgorithmSpecification.ContainerArguments = []string{"dial", ln.Addr().String()}
			if c.isolated {
				spec.EnableNetworkIsolation = &yes
			}
			h.createTraining(spec)
			j := h.waitTraining(spec.TrainingJobName)
			if j.TrainingJobStatus != c.want {
				t.Fatalf("status %s (%s), want %s; log:\n%s", j.TrainingJobStatus, j.FailureReason, c.want, h.log(jobs.KindTraining, spec.TrainingJobName))
			}
			if log := h.log(jobs.KindTraining, spec.TrainingJobName); c.isolated != strings.Contains(log, "dial failed") {
				t.Errorf("log = %q", log)
			}
		})
	}
}

func TestStreamLogFollowsUntilTheEnd(t *testing.T) {
	h := newHarness(t, nil)
	h.createProcessing(processing("chatty", `for i in 1 2 3 4 5; do echo "line $i"; sleep 0.1; done`))
	var b strings.Builder
	if err := h.runner.StreamLog(waitCtx(t), jobs.KindProcessing, "chatty", 0, true, &b, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "line 1\n") || !strings.Contains(b.String(), "line 5\n") {
		t.Errorf("followed log = %q", b.String())
	}
	var tail strings.Builder
	h.runner.StreamLog(context.Background(), jobs.KindProcessing, "chatty", int64(len("line 1\n")), false, &tail, nil)
	if !strings.HasPrefix(tail.String(), "line 2\n") {
		t.Errorf("log from offset = %q", tail.String())
	}
	// Once the local file is gone, the copy in the artifact store answers.
	os.Remove(h.runner.LogPath(jobs.KindProcessing, "chatty"))
	var stored strings.Builder
	h.runner.StreamLog(context.Background(), jobs.KindProcessing, "chatty", 0, false, &stored, nil)
	if !strings.Contains(stored.String(), "line 5") {
		t.Errorf("stored log = %q", stored.String())
	}
}

func TestDuplicateNamesAndMissingJobs(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	h.createProcessing(processing("same", "true"))
	_, err := h.runner.CreateProcessingJob(ctx, processing("SAME", "true"))
	var exists *jobs.ExistsError
	if !errors.As(err, &exists) || exists.ARN != h.runner.ARN(jobs.KindProcessing, "same") {
		t.Fatalf("duplicate name: %v", err)
	}
	// Kinds have separate namespaces, as in SageMaker.
	h.createTraining(training("same", "true"))
	if _, err := h.runner.DescribeTrainingJob(ctx, "other"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("missing job: %v", err)
	}
	found, _ := h.runner.Lookup(ctx, "Same")
	if len(found) != 2 {
		t.Errorf("Lookup found %d jobs", len(found))
	}
	h.waitProcessing("same")
	h.waitTraining("same")
}

func TestListPagesThroughJobs(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	for _, n := range []string{"list-c", "list-a", "list-b"} {
		h.createProcessing(processing(n, "true"))
		h.waitProcessing(n)
	}
	h.createTraining(training("list-t", "true"))
	var names []string
	q := jobs.ListQuery{Kind: jobs.KindProcessing, SortBy: jobs.SortByName, Limit: 2}
	for {
		page, next, err := h.runner.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page {
			names = append(names, s.Name)
		}
		if next == nil {
			break
		}
		q.After = next
	}
	if fmt.Sprint(names) != "[list-a list-b list-c]" {
		t.Errorf("pages = %v", names)
	}
	all, _, _ := h.runner.List(ctx, jobs.ListQuery{Limit: 10, Descending: true})
	if len(all) != 4 || all[0].Name != "list-t" || all[0].Kind != jobs.KindTraining {
		t.Errorf("every kind, newest first: %+v", all)
	}
	h.waitTraining("list-t")
}

func TestRunnerOnEveryDialect(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st)
		h.createProcessing(processing("dialect", "echo ok"))
		h.createTraining(training("dialect", "echo ok > /opt/ml/model/m"))
		if j := h.waitProcessing("dialect"); j.ProcessingJobStatus != jobs.StatusCompleted {
			t.Errorf("processing: %s %q", j.ProcessingJobStatus, j.FailureReason)
		}
		if j := h.waitTraining("dialect"); j.TrainingJobStatus != jobs.StatusCompleted {
			t.Errorf("training: %s %q", j.TrainingJobStatus, j.FailureReason)
		}
	})
}
