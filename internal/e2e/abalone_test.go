package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// repoRoot is the folder holding go.mod, found from the package folder up.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package folder")
		}
		dir = parent
	}
}

// shared returns a file of the shared reference material next to the repository, skipping the
// test loudly when it is missing.
func shared(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "..", "shared", filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("SKIPPED: %s is missing (%v); this suite runs the SDK's abalone definition on the real abalone data", p, err)
	}
	return p
}

// TestAbalonePipelineEndToEnd runs the SageMaker Python SDK's abalone definition as it was
// emitted, with scripts written as SageMaker's abalone sample writes them (pandas and
// scikit-learn preprocessing, XGBoost evaluation) on the real abalone data: preprocessing,
// training with the XGBoost image, evaluation, the MSE condition, registration, the model and
// the batch transform of the batch data set. The transform's predictions are checked against
// real XGBoost's for the model the pipeline trained.
func TestAbalonePipelineEndToEnd(t *testing.T) {
	py := servertest.Python(t)
	definition, err := os.ReadFile(shared(t, "reference/abalone_pipeline_definition.json"))
	if err != nil {
		t.Fatal(err)
	}
	data := shared(t, "data/abalone.csv")

	srv := servertest.Start(t)
	ctx := context.Background()
	if err := blob.EnsureBucket(ctx, srv.Blob(), "my-bucket"); err != nil {
		t.Fatal(err)
	}
	put := func(uri, path string) {
		t.Helper()
		if err := blob.CopyToStore(ctx, srv.Blob(), path, blob.MustParseURI(uri), nil); err != nil {
			t.Fatalf("upload %s: %v", uri, err)
		}
	}
	// The URIs the definition names: its parameters' defaults and the code inputs.
	put("s3://my-bucket/abalone/abalone-dataset.csv", data)
	put("s3://my-bucket/code/preprocessing.py", "testdata/abalone/preprocessing.py")
	put("s3://my-bucket/code/evaluation.py", "testdata/abalone/evaluation.py")
	batch := filepath.Join(t.TempDir(), "abalone-dataset-batch")
	python(t, py, "testdata/abalone/make_batch.py", data, batch)
	put("s3://my-bucket/abalone/abalone-dataset-batch", batch)

	c := srv.SageMaker()
	role := aws.String("arn:aws:iam::111122223333:role/SageMakerPipelineRole")
	if _, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("AbalonePipeline"), PipelineDefinition: aws.String(string(definition)), RoleArn: role}); err != nil {
		t.Fatal(err)
	}
	start, err := c.StartPipelineExecution(ctx, &sm.StartPipelineExecutionInput{PipelineName: aws.String("AbalonePipeline")})
	if err != nil {
		t.Fatal(err)
	}
	arn := start.PipelineExecutionArn
	deadline := time.Now().Add(10 * time.Minute)
	var x *sm.DescribePipelineExecutionOutput
	for {
		x, err = c.DescribePipelineExecution(ctx, &sm.DescribePipelineExecutionInput{PipelineExecutionArn: arn})
		if err != nil {
			t.Fatal(err)
		}
		if s := x.PipelineExecutionStatus; s != types.PipelineExecutionStatusExecuting && s != types.PipelineExecutionStatusStopping {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the execution is still %s", x.PipelineExecutionStatus)
		}
		time.Sleep(200 * time.Millisecond)
	}
	steps := map[string]types.PipelineExecutionStep{}
	p := sm.NewListPipelineExecutionStepsPaginator(c, &sm.ListPipelineExecutionStepsInput{PipelineExecutionArn: arn})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.PipelineExecutionSteps {
			steps[aws.ToString(s.StepName)] = s
		}
	}
	if x.PipelineExecutionStatus != types.PipelineExecutionStatusSucceeded {
		for name, s := range steps {
			t.Logf("%s: %s %s", name, s.StepStatus, aws.ToString(s.FailureReason))
		}
		t.Fatalf("execution %s: %s", x.PipelineExecutionStatus, aws.ToString(x.FailureReason))
	}
	for _, name := range []string{"PreprocessAbaloneData", "TrainAbaloneModel", "EvaluateAbaloneModel", "AbaloneMSECond",
		"RegisterAbaloneModel-RegisterModel", "CreateAbaloneModel-CreateModel", "AbaloneTransform"} {
		if s, ok := steps[name]; !ok || s.StepStatus != types.StepStatusSucceeded {
			t.Errorf("step %s: %+v", name, s.StepStatus)
		}
	}
	if _, ran := steps["AbaloneMSEFail"]; ran {
		t.Error("the else branch ran")
	}

	// The evaluation report decided the branch with a real score.
	report := get(t, srv, "s3://my-bucket/script-abalone-eval-2026-11-21-20-48-48-442/output/evaluation/evaluation.json")
	var eval struct {
		RegressionMetrics struct{ MSE struct{ Value float64 } } `json:"regression_metrics"`
	}
	if err := json.Unmarshal([]byte(report), &eval); err != nil || eval.RegressionMetrics.MSE.Value <= 0 || eval.RegressionMetrics.MSE.Value > 6 {
		t.Errorf("evaluation.json: %s (%v)", report, err)
	}
	t.Logf("evaluation: %s", report)

	// The Transform step ran a transform job with the model the pipeline created.
	tr := steps["AbaloneTransform"].Metadata.TransformJob
	if tr == nil {
		t.Fatal("the transform step has no TransformJob metadata")
	}
	jobName := aws.ToString(tr.Arn)[strings.LastIndexByte(aws.ToString(tr.Arn), '/')+1:]
	d, err := c.DescribeTransformJob(ctx, &sm.DescribeTransformJobInput{TransformJobName: aws.String(jobName)})
	if err != nil {
		t.Fatal(err)
	}
	model := aws.ToString(steps["CreateAbaloneModel-CreateModel"].Metadata.Model.Arn)
	if d.TransformJobStatus != types.TransformJobStatusCompleted || aws.ToString(d.TransformOutput.S3OutputPath) != "s3://my-bucket/AbaloneTransform" ||
		!strings.HasSuffix(model, "/"+aws.ToString(d.ModelName)) || d.BatchStrategy != types.BatchStrategyMultiRecord {
		t.Errorf("transform job: %s %s model %s (%s)", d.TransformJobStatus, aws.ToString(d.TransformOutput.S3OutputPath), aws.ToString(d.ModelName), model)
	}
	out := get(t, srv, "s3://my-bucket/AbaloneTransform/abalone-dataset-batch.out")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4177 {
		t.Errorf("%d predictions for 4177 abalones", len(lines))
	}
	for i, l := range lines {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil || math.IsNaN(v) || v < 0 || v > 40 {
			t.Fatalf("prediction %d is %q", i+1, l)
		}
	}

	// The predictions are real XGBoost's for the trained model.
	trained := aws.ToString(steps["TrainAbaloneModel"].Metadata.TrainingJob.Arn)
	tj, err := c.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String(trained[strings.LastIndexByte(trained, '/')+1:])})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	modelTar := filepath.Join(dir, "model.tar.gz")
	if err := blob.CopyFromStore(ctx, srv.Blob(), blob.MustParseURI(aws.ToString(tj.ModelArtifacts.S3ModelArtifacts)), modelTar, nil); err != nil {
		t.Fatal(err)
	}
	predictions := filepath.Join(dir, "abalone-dataset-batch.out")
	if err := os.WriteFile(predictions, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(python(t, py, "testdata/abalone/check_predictions.py", modelTar, batch, predictions))
}

func python(t *testing.T, py string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", py, strings.Join(args, " "), err, out.String())
	}
	return strings.TrimSpace(out.String())
}

func get(t *testing.T, srv *servertest.Server, uri string) string {
	t.Helper()
	rc, err := srv.Blob().Get(context.Background(), blob.MustParseURI(uri))
	if errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("%s was not written", uri)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
