package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

func TestTransformCommands(t *testing.T) {
	clearAWSEnv(t)
	srv := servertest.Start(t)
	ctx := context.Background()
	registerXGBoost(t, srv, "batch", types.ModelApprovalStatusApproved)
	if _, err := srv.SageMaker().CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String("tiny"), ExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
		PrimaryContainer: &types.ContainerDefinition{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String("s3://models/batch/model.tar.gz")}}); err != nil {
		t.Fatal(err)
	}
	blob.EnsureBucket(ctx, srv.Blob(), "data")
	var in strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&in, "r%d,%g,%d,1\n", i, float64(i%10)/10, i%4)
	}
	put := func(uri, s string) {
		if err := srv.Blob().Put(ctx, blob.MustParseURI(uri), strings.NewReader(s), int64(len(s))); err != nil {
			t.Fatal(err)
		}
	}
	put("s3://data/batch/part-0.csv", in.String())
	put("s3://data/batch/part-1.csv", "r9,0.9,3,1\n")

	out, errOut, code := sluice(t, srv, "transform", "run", "--name", "score", "--model", "tiny", "--input", "s3://data/batch/",
		"--output", "s3://data/scored/", "--input-filter", "$[1:]", "--join", "--output-filter", "$[0,-1]", "--max-payload", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"Status:", "Completed", "2 of 2 done", "5,001", "s3://data/batch/part-0.csv -> s3://data/scored/part-0.csv.out"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "score: 2/2 files, 5,001 records") || !strings.Contains(errOut, "Completed") {
		t.Errorf("progress:\n%s", errOut)
	}
	rc, err := srv.Blob().Get(ctx, blob.MustParseURI("s3://data/scored/part-1.csv.out"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "r9,1.25\n" {
		t.Errorf("part-1.csv.out = %q", b)
	}

	// sluice jobs lists transform jobs with the others, and shows their logs.
	list := mustSluice(t, srv, "jobs", "list")
	if !strings.Contains(list, "score") || !strings.Contains(list, "transform") {
		t.Errorf("jobs list:\n%s", list)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(mustSluice(t, srv, "-o", "json", "jobs", "list", "--kind", "transform")), &rows); err != nil || len(rows) != 1 || rows[0]["Kind"] != "transform" {
		t.Errorf("jobs list --kind transform: %v %v", rows, err)
	}
	if log := mustSluice(t, srv, "jobs", "logs", "score"); !strings.Contains(log, "s3://data/batch/part-0.csv: 5000 records") {
		t.Errorf("jobs logs:\n%s", log)
	}
	if d := mustSluice(t, srv, "transform", "describe", "score"); !strings.Contains(d, "tiny") || !strings.Contains(d, "5,001") {
		t.Errorf("describe:\n%s", d)
	}

	// A job that fails exits non-zero with the reason.
	put("s3://data/bad/x.csv", "0.1,1,1\nnot,a,number\n")
	_, errOut, code = sluice(t, srv, "transform", "run", "--name", "bad", "--model", "tiny", "--input", "s3://data/bad/", "--output", "s3://data/bad-out/", "--retries", "0", "-q")
	if code == 0 || !strings.Contains(errOut, "transform job bad failed: ClientError: s3://data/bad/x.csv, line 2: the model answered 400") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	_, errOut, code = sluice(t, srv, "transform", "run", "--model", "tiny", "--input", "s3://data/bad/")
	if code == 0 || !strings.Contains(errOut, "--output is required") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
