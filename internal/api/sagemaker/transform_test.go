package sagemaker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

func transformInput(name, model, in, out string) *sm.CreateTransformJobInput {
	return &sm.CreateTransformJobInput{
		TransformJobName: aws.String(name),
		ModelName:        aws.String(model),
		BatchStrategy:    types.BatchStrategyMultiRecord,
		TransformInput: &types.TransformInput{
			DataSource:  &types.TransformDataSource{S3DataSource: &types.TransformS3DataSource{S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String(in)}},
			ContentType: aws.String("text/csv"),
			SplitType:   types.SplitTypeLine,
		},
		TransformOutput:    &types.TransformOutput{S3OutputPath: aws.String(out), AssembleWith: types.AssemblyTypeLine, Accept: aws.String("text/csv")},
		TransformResources: &types.TransformResources{InstanceType: types.TransformInstanceTypeMlM5Xlarge, InstanceCount: aws.Int32(1)},
	}
}

func TestTransformWithTheGoSDK(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.SageMaker()
	ctx := context.Background()
	modelData := putXGBoostModel(t, srv, "transform/model.tar.gz")
	if _, err := c.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String("tiny"), ExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
		PrimaryContainer: &types.ContainerDefinition{Image: aws.String("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"), ModelDataUrl: aws.String(modelData)}}); err != nil {
		t.Fatal(err)
	}
	if err := blob.EnsureBucket(ctx, srv.Blob(), "batch"); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	want := ""
	for i := range 1000 {
		x0, x1 := float64(i%10)/10, i%4
		fmt.Fprintf(&in, "id%d,%g,%d,%d\n", i, x0, x1, i)
		p := 0.5 - 1 + 0.25
		if x0 >= 0.5 {
			p += 2
		}
		if x1 >= 2 {
			p -= 0.5
		}
		want += fmt.Sprintf("id%d,%s\n", i, strconv.FormatFloat(p, 'g', -1, 32))
	}
	putObject(t, srv, "s3://batch/in/rows.csv", in.String())

	req := transformInput("tr-1", "tiny", "s3://batch/in", "s3://batch/out")
	req.DataProcessing = &types.DataProcessing{InputFilter: aws.String("$[1:]"), JoinSource: types.JoinSourceInput, OutputFilter: aws.String("$[0,-1]")}
	req.ModelClientConfig = &types.ModelClientConfig{InvocationsTimeoutInSeconds: aws.Int32(30), InvocationsMaxRetries: aws.Int32(1)}
	req.Environment = map[string]string{"SOME_SETTING": "1"}
	req.TransformOutput.KmsKeyId = aws.String("alias/anything")
	created, err := c.CreateTransformJob(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(created.TransformJobArn) != "arn:aws:sagemaker:us-east-1:000000000000:transform-job/tr-1" {
		t.Errorf("arn %s", aws.ToString(created.TransformJobArn))
	}
	w := sm.NewTransformJobCompletedOrStoppedWaiter(c, func(o *sm.TransformJobCompletedOrStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
	})
	d, err := w.WaitForOutput(ctx, &sm.DescribeTransformJobInput{TransformJobName: aws.String("tr-1")}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if d.TransformJobStatus != types.TransformJobStatusCompleted || d.TransformStartTime == nil || d.TransformEndTime == nil ||
		aws.ToString(d.ModelName) != "tiny" || aws.ToString(d.TransformOutput.KmsKeyId) != "alias/anything" ||
		aws.ToString(d.DataProcessing.OutputFilter) != "$[0,-1]" || aws.ToInt32(d.ModelClientConfig.InvocationsMaxRetries) != 1 ||
		d.Environment["SOME_SETTING"] != "1" || aws.ToInt32(d.TransformResources.InstanceCount) != 1 {
		b, _ := json.Marshal(d)
		t.Errorf("described: %s", b)
	}
	if got := getObject(t, srv, "s3://batch/out/rows.csv.out"); got != want {
		t.Errorf("output:\n%.200s\nwant:\n%.200s", got, want)
	}

	list, err := c.ListTransformJobs(ctx, &sm.ListTransformJobsInput{StatusEquals: types.TransformJobStatusCompleted, NameContains: aws.String("tr")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.TransformJobSummaries) != 1 || aws.ToString(list.TransformJobSummaries[0].TransformJobName) != "tr-1" || list.TransformJobSummaries[0].TransformEndTime == nil {
		t.Errorf("list: %+v", list.TransformJobSummaries)
	}

	// The job's progress and log are served by the native API.
	resp := signed(t, srv, http.MethodGet, "/api/v1/transform-jobs/tr-1/progress", "", nil)
	var p struct {
		Status              string
		Files, FilesDone    int
		Records, TotalBytes int64
	}
	decodeJSON(t, resp, &p)
	if p.Status != "Completed" || p.Files != 1 || p.FilesDone != 1 || p.Records != 1000 || p.TotalBytes != int64(in.Len()) {
		t.Errorf("progress %+v", p)
	}
	resp = signed(t, srv, http.MethodGet, "/api/v1/jobs/tr-1/logs?kind=transform", "", nil)
	log, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(log), "s3://batch/in/rows.csv: 1000 records") {
		t.Errorf("log:\n%s", log)
	}

	_, err = c.StopTransformJob(ctx, &sm.StopTransformJobInput{TransformJobName: aws.String("tr-1")})
	if apiCodeOf(err) != "ValidationException" || !strings.Contains(err.Error(), "status Completed") {
		t.Errorf("stopping a finished job: %v", err)
	}
	_, err = c.CreateTransformJob(ctx, req)
	if apiCodeOf(err) != "ResourceInUse" {
		t.Errorf("duplicate: %v", err)
	}
	_, err = c.DescribeTransformJob(ctx, &sm.DescribeTransformJobInput{TransformJobName: aws.String("missing")})
	if apiCodeOf(err) != "ValidationException" || !strings.Contains(err.Error(), "Requested resource not found.") {
		t.Errorf("missing: %v", err)
	}
	bad := transformInput("tr-2", "nope", "s3://batch/in", "s3://batch/out")
	_, err = c.CreateTransformJob(ctx, bad)
	if apiCodeOf(err) != "ValidationException" || !strings.Contains(err.Error(), `Could not find model "arn:aws:sagemaker:us-east-1:000000000000:model/nope".`) {
		t.Errorf("unknown model: %v", err)
	}

	base := `"ModelName":"tiny","TransformInput":{"DataSource":{"S3DataSource":{"S3DataType":"S3Prefix","S3Uri":"s3://batch/in"}}},"TransformOutput":{"S3OutputPath":"s3://batch/o"},"TransformResources":{"InstanceType":"ml.m5.xlarge","InstanceCount":1}`
	cases := []struct{ name, body, want string }{
		{"missing name", `{` + base + `}`, "Value null at 'transformJobName'"},
		{"bad split", `{"TransformJobName":"x",` + strings.Replace(base, `}}}`, `}},"SplitType":"Words"}`, 1) + `}`, "Member must satisfy enum value set: [None, Line, RecordIO, TFRecord]"},
		{"record io", `{"TransformJobName":"x",` + strings.Replace(base, `}}}`, `}},"SplitType":"RecordIO"}`, 1) + `}`, "TransformInput.SplitType RecordIO is not supported here yet"},
		{"no instances", `{"TransformJobName":"x",` + strings.Replace(base, `"InstanceCount":1`, `"InstanceCount":0`, 1) + `}`, "at 'transformResources.instanceCount'"},
		{"big payload", `{"TransformJobName":"x","MaxPayloadInMB":101,` + base + `}`, "MaxPayloadInMB 101: expected 1 to 100"},
		{"long filter", `{"TransformJobName":"x","DataProcessing":{"InputFilter":"$` + strings.Repeat("[1]", 30) + `"},` + base + `}`, "at 'dataProcessing.inputFilter' failed to satisfy constraint: Member must have length less than or equal to 63"},
		{"bad timeout", `{"TransformJobName":"x","ModelClientConfig":{"InvocationsTimeoutInSeconds":0},` + base + `}`, "Member must have value between 1 and 3600"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := jobCall(t, srv, "CreateTransformJob", tc.body)
			if status != 400 || body["__type"] != "ValidationException" || !strings.Contains(fmt.Sprint(body["message"]), tc.want) {
				t.Errorf("%d %v, want %q", status, body, tc.want)
			}
		})
	}
}
