package jobs_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/internal/jobs"
)

// The tests in this file run real scripts written the SageMaker way, with Debian's Python.

const sklearnImage = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

// python returns the interpreter for script tests, or skips loudly.
func python(t *testing.T) string {
	t.Helper()
	if py := os.Getenv("SLUICE_TEST_PYTHON"); py != "" {
		return py
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	t.Skip("SKIPPED: Python script jobs not run: set SLUICE_TEST_PYTHON to a python3 interpreter (or install /usr/bin/python3)")
	return ""
}

// abalone returns the real abalone CSV: ../shared/data/abalone.csv next to the repository.
func abalone(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("SKIPPED: repository root not found, so the abalone data set is unavailable")
		}
		dir = parent
	}
	b, err := os.ReadFile(filepath.Join(dir, "..", "shared", "data", "abalone.csv"))
	if err != nil {
		t.Skipf("SKIPPED: the abalone data set is missing (%v); the script tests need it", err)
	}
	return string(b)
}

func script(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "python", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPythonProcessingThenScriptModeTraining(t *testing.T) {
	python(t)
	data := abalone(t)
	h := newHarness(t, nil)
	h.put("s3://abalone/raw/abalone.csv", data)
	h.put("s3://abalone/code/preprocess.py", script(t, "preprocess.py"))

	prep := &jobs.ProcessingJobSpec{
		ProcessingJobName: "abalone-prep",
		AppSpecification: &jobs.AppSpecification{
			ImageUri:            sklearnImage,
			ContainerEntrypoint: []string{"python3", "/opt/ml/processing/input/code/preprocess.py"},
			ContainerArguments:  []string{"--train-ratio", "0.8"},
		},
		Environment: map[string]string{"PREP_MODE": "sagemaker"},
		ProcessingInputs: []jobs.ProcessingInput{
			{InputName: "input-1", S3Input: &jobs.ProcessingS3Input{S3Uri: "s3://abalone/raw", LocalPath: "/opt/ml/processing/input/data", S3DataType: "S3Prefix", S3InputMode: "File", S3DataDistributionType: "FullyReplicated"}},
			{InputName: "code", S3Input: &jobs.ProcessingS3Input{S3Uri: "s3://abalone/code/preprocess.py", LocalPath: "/opt/ml/processing/input/code", S3DataType: "S3Prefix", S3InputMode: "File"}},
		},
		ProcessingOutputConfig: &jobs.ProcessingOutputConfig{Outputs: []jobs.ProcessingOutput{
			{OutputName: "train", S3Output: &jobs.ProcessingS3Output{S3Uri: "s3://abalone/prep/train", LocalPath: "/opt/ml/processing/train", S3UploadMode: "EndOfJob"}},
			{OutputName: "validation", S3Output: &jobs.ProcessingS3Output{S3Uri: "s3://abalone/prep/validation", LocalPath: "/opt/ml/processing/validation", S3UploadMode: "EndOfJob"}},
			{OutputName: "test", S3Output: &jobs.ProcessingS3Output{S3Uri: "s3://abalone/prep/test", LocalPath: "/opt/ml/processing/test", S3UploadMode: "EndOfJob"}},
		}},
		ProcessingResources: &jobs.ProcessingResources{ClusterConfig: &jobs.ProcessingClusterConfig{InstanceCount: 1, InstanceType: "ml.m5.xlarge", VolumeSizeInGB: 30}},
		RoleArn:             "arn:aws:iam::000000000000:role/SageMakerRole",
	}
	h.createProcessing(prep)
	p := h.waitProcessing("abalone-prep")
	log := h.log(jobs.KindProcessing, "abalone-prep")
	if p.ProcessingJobStatus != jobs.StatusCompleted {
		t.Fatalf("processing: %s %q\n%s", p.ProcessingJobStatus, p.FailureReason, log)
	}
	if !strings.Contains(log, "train: 3341 rows") || !strings.Contains(log, "mode: sagemaker") {
		t.Errorf("processing log:\n%s", log)
	}
	if lines := strings.Count(h.get("s3://abalone/prep/train/train.csv"), "\n"); lines != 3341 {
		t.Errorf("train split has %d rows", lines)
	}

	h.put("s3://abalone/code/sourcedir.tar.gz", tarGz(t, map[string]string{"train.py": script(t, "train.py")}))
	spec := training("abalone-train", "")
	spec.AlgorithmSpecification.TrainingImage = sklearnImage
	spec.AlgorithmSpecification.ContainerArguments = nil
	spec.AlgorithmSpecification.MetricDefinitions = []jobs.MetricDefinition{
		{Name: "train:rmse", Regex: `train_rmse=([0-9.]+)`},
		{Name: "validation:rmse", Regex: `validation_rmse=([0-9.]+)`},
	}
	spec.HyperParameters = map[string]string{
		"epochs":                        "25",
		"learning-rate":                 "0.5",
		"sagemaker_program":             `"train.py"`,
		"sagemaker_submit_directory":    `"s3://abalone/code/sourcedir.tar.gz"`,
		"sagemaker_region":              `"us-east-1"`,
		"sagemaker_container_log_level": "20",
	}
	spec.InputDataConfig = []jobs.Channel{
		{ChannelName: "train", ContentType: "text/csv", DataSource: &jobs.DataSource{S3DataSource: &jobs.S3DataSource{S3DataType: "S3Prefix", S3Uri: "s3://abalone/prep/train", S3DataDistributionType: "FullyReplicated"}}},
		{ChannelName: "validation", ContentType: "text/csv", DataSource: &jobs.DataSource{S3DataSource: &jobs.S3DataSource{S3DataType: "S3Prefix", S3Uri: "s3://abalone/prep/validation"}}},
	}
	h.createTraining(spec)
	tr := h.waitTraining("abalone-train")
	tlog := h.log(jobs.KindTraining, "abalone-train")
	if tr.TrainingJobStatus != jobs.StatusCompleted {
		t.Fatalf("training: %s %q\n%s", tr.TrainingJobStatus, tr.FailureReason, tlog)
	}
	metrics := map[string]float64{}
	for _, m := range tr.FinalMetricDataList {
		metrics[m.MetricName] = m.Value
	}
	if v, ok := metrics["validation:rmse"]; !ok || v <= 0 || v > 3.5 {
		t.Errorf("validation rmse %v (metrics %v); log:\n%s", v, tr.FinalMetricDataList, tlog)
	}
	var model struct {
		Weights  []float64 `json:"weights"`
		Features int       `json:"features"`
	}
	if err := json.Unmarshal([]byte(untar(t, h.get(tr.S3ModelArtifacts))["model.json"]), &model); err != nil || model.Features != 10 {
		t.Errorf("model.json: %+v %v", model, err)
	}
	if out := untar(t, h.get("s3://out/models/abalone-train/output/output.tar.gz")); !strings.Contains(out["metrics.json"], "validation_rmse") {
		t.Errorf("output.tar.gz: %v", out)
	}
}

func TestPythonFailureTimeoutAndIsolation(t *testing.T) {
	python(t)
	h := newHarness(t, nil, func(c *jobs.Config) { c.Slots = 4 })
	h.put("s3://scripts/src/sourcedir.tar.gz", tarGz(t, map[string]string{
		"fail.py": script(t, "fail.py"), "slow.py": script(t, "slow.py"), "netcheck.py": script(t, "netcheck.py"),
	}))
	scriptMode := func(name, program string) *jobs.TrainingJobSpec {
		spec := training(name, "")
		spec.AlgorithmSpecification.TrainingImage = sklearnImage
		spec.AlgorithmSpecification.ContainerArguments = nil
		spec.HyperParameters = map[string]string{
			"sagemaker_program":          `"` + program + `"`,
			"sagemaker_submit_directory": `"s3://scripts/src/sourcedir.tar.gz"`,
		}
		return spec
	}
	h.createTraining(scriptMode("py-fails", "fail.py"))
	slow := scriptMode("py-slow", "slow.py")
	slow.StoppingCondition.MaxRuntimeInSeconds = 1
	h.createTraining(slow)

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
	isolated := true
	netJob := func(name string, isolate bool) *jobs.ProcessingJobSpec {
		spec := processing(name, "")
		spec.AppSpecification = &jobs.AppSpecification{
			ImageUri:            sklearnImage,
			ContainerEntrypoint: []string{"python3", "/opt/ml/processing/input/code/netcheck.py", ln.Addr().String()},
		}
		spec.ProcessingInputs = []jobs.ProcessingInput{{InputName: "code", S3Input: &jobs.ProcessingS3Input{
			S3Uri: "s3://scripts/net/netcheck.py", LocalPath: "/opt/ml/processing/input/code", S3DataType: "S3Prefix"}}}
		spec.NetworkConfig = &jobs.NetworkConfig{EnableNetworkIsolation: &isolate}
		return spec
	}
	h.put("s3://scripts/net/netcheck.py", script(t, "netcheck.py"))
	iso := h.cfg.Process.Isolation(t.Context())
	if iso.Network {
		h.createProcessing(netJob("py-isolated", isolated))
	}
	h.createProcessing(netJob("py-open", false))

	if j := h.waitTraining("py-fails"); j.TrainingJobStatus != jobs.StatusFailed || j.FailureReason != "ValueError: column 'Rings' is missing from the training data" {
		t.Errorf("failing script: %s %q", j.TrainingJobStatus, j.FailureReason)
	}
	if !strings.Contains(h.log(jobs.KindTraining, "py-fails"), "Traceback") {
		t.Errorf("the traceback is not in the log")
	}
	j := h.waitTraining("py-slow")
	if j.TrainingJobStatus != jobs.StatusStopped || j.SecondaryStatus != jobs.SecondaryMaxRuntimeExceeded {
		t.Errorf("slow script: %s/%s %q", j.TrainingJobStatus, j.SecondaryStatus, j.FailureReason)
	}
	if !strings.Contains(h.log(jobs.KindTraining, "py-slow"), "still working 1") {
		t.Errorf("slow script log: %s", h.log(jobs.KindTraining, "py-slow"))
	}
	if p := h.waitProcessing("py-open"); p.ProcessingJobStatus != jobs.StatusCompleted {
		t.Errorf("open network: %s %q", p.ProcessingJobStatus, p.FailureReason)
	}
	if !iso.Network {
		t.Skipf("SKIPPED: network isolation untested, this host cannot create network namespaces: %s", iso.Reason)
	}
	p := h.waitProcessing("py-isolated")
	if p.ProcessingJobStatus != jobs.StatusFailed || !strings.Contains(p.FailureReason, "cannot reach "+ln.Addr().String()) {
		t.Errorf("isolated job: %s %q", p.ProcessingJobStatus, p.FailureReason)
	}
}
