package sagemaker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// jobServer starts a server whose image "test/sh" runs `/bin/sh -c <ContainerArguments>`.
func jobServer(t *testing.T) *servertest.Server {
	return servertest.Start(t, func(c *config.Config) {
		c.Jobs.Images = map[string]string{"test/sh": "/bin/sh -c"}
	})
}

// jobCall sends one signed JSON 1.1 request, for inputs the SDK would refuse to send, and
// returns the status and the decoded body.
func jobCall(t *testing.T, srv *servertest.Server, op, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "SageMaker."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sum := sha256.Sum256([]byte(body))
	creds, _ := srv.AWS().Credentials.Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sagemaker", srv.Config.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: response is not JSON: %s", op, b)
	}
	return resp.StatusCode, out
}

func putObject(t *testing.T, srv *servertest.Server, uri, content string) {
	t.Helper()
	if err := srv.Blob().Put(context.Background(), blob.MustParseURI(uri), strings.NewReader(content), int64(len(content))); err != nil {
		t.Fatal(err)
	}
}

func getObject(t *testing.T, srv *servertest.Server, uri string) string {
	t.Helper()
	rc, err := srv.Blob().Get(context.Background(), blob.MustParseURI(uri))
	if err != nil {
		t.Fatalf("get %s: %v", uri, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func processingInput(name, script string) *sm.CreateProcessingJobInput {
	return &sm.CreateProcessingJobInput{
		ProcessingJobName: aws.String(name),
		RoleArn:           aws.String("arn:aws:iam::000000000000:role/SageMakerRole"),
		AppSpecification:  &types.AppSpecification{ImageUri: aws.String("test/sh"), ContainerArguments: []string{script}},
		ProcessingResources: &types.ProcessingResources{ClusterConfig: &types.ProcessingClusterConfig{
			InstanceCount: aws.Int32(1), InstanceType: types.ProcessingInstanceTypeMlM5Large, VolumeSizeInGB: aws.Int32(1),
		}},
	}
}

func trainingInput(name, script string) *sm.CreateTrainingJobInput {
	return &sm.CreateTrainingJobInput{
		TrainingJobName: aws.String(name),
		RoleArn:         aws.String("arn:aws:iam::000000000000:role/SageMakerRole"),
		AlgorithmSpecification: &types.AlgorithmSpecification{
			TrainingImage: aws.String("test/sh"), TrainingInputMode: types.TrainingInputModeFile, ContainerArguments: []string{script},
		},
		OutputDataConfig:  &types.OutputDataConfig{S3OutputPath: aws.String("s3://models/out")},
		ResourceConfig:    &types.ResourceConfig{InstanceType: types.TrainingInstanceTypeMlM5Large, InstanceCount: aws.Int32(1), VolumeSizeInGB: aws.Int32(1)},
		StoppingCondition: &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(300)},
	}
}

func TestJobsWithTheGoSDK(t *testing.T) {
	srv := jobServer(t)
	c := srv.SageMaker()
	ctx := context.Background()
	putObject(t, srv, "s3://data/abalone/part-0.csv", "15,0.455\n7,0.35\n")

	in := processingInput("prep", `wc -l < /opt/ml/processing/input/part-0.csv > /opt/ml/processing/output/rows.txt; echo "mode=$MODE"`)
	in.Environment = map[string]string{"MODE": "test"}
	in.ProcessingInputs = []types.ProcessingInput{{InputName: aws.String("input-1"), S3Input: &types.ProcessingS3Input{
		S3Uri: aws.String("s3://data/abalone"), LocalPath: aws.String("/opt/ml/processing/input"),
		S3DataType: types.ProcessingS3DataTypeS3Prefix, S3InputMode: types.ProcessingS3InputModeFile, S3DataDistributionType: types.ProcessingS3DataDistributionTypeFullyreplicated,
	}}}
	in.ProcessingOutputConfig = &types.ProcessingOutputConfig{Outputs: []types.ProcessingOutput{{OutputName: aws.String("rows"), S3Output: &types.ProcessingS3Output{
		S3Uri: aws.String("s3://data/prep/rows"), LocalPath: aws.String("/opt/ml/processing/output"), S3UploadMode: types.ProcessingS3UploadModeEndOfJob,
	}}}}
	in.ExperimentConfig = &types.ExperimentConfig{ExperimentName: aws.String("abalone")}
	in.Tags = []types.Tag{{Key: aws.String("stage"), Value: aws.String("dev")}}
	created, err := c.CreateProcessingJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(created.ProcessingJobArn) != "arn:aws:sagemaker:us-east-1:000000000000:processing-job/prep" {
		t.Errorf("ARN %s", aws.ToString(created.ProcessingJobArn))
	}
	w := sm.NewProcessingJobCompletedOrStoppedWaiter(c, func(o *sm.ProcessingJobCompletedOrStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
	})
	p, err := w.WaitForOutput(ctx, &sm.DescribeProcessingJobInput{ProcessingJobName: aws.String("prep")}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if p.ProcessingJobStatus != types.ProcessingJobStatusCompleted || p.ProcessingStartTime == nil || p.ProcessingEndTime == nil || p.CreationTime == nil {
		t.Fatalf("described %+v", p)
	}
	if p.Environment["MODE"] != "test" || aws.ToString(p.ExperimentConfig.ExperimentName) != "abalone" ||
		aws.ToString(p.ProcessingInputs[0].S3Input.LocalPath) != "/opt/ml/processing/input" || aws.ToInt32(p.ProcessingResources.ClusterConfig.InstanceCount) != 1 {
		t.Errorf("the request is not echoed: %+v", p)
	}
	if got := strings.TrimSpace(getObject(t, srv, "s3://data/prep/rows/rows.txt")); got != "2" {
		t.Errorf("rows.txt = %q", got)
	}
	tags, err := c.ListTags(ctx, &sm.ListTagsInput{ResourceArn: created.ProcessingJobArn})
	if err != nil || len(tags.Tags) != 1 {
		t.Errorf("tags of the job: %v %v", tags, err)
	}

	// Training, with metrics and a model.
	tin := trainingInput("train", `echo "train-rmse:2.5"; echo "train-rmse:1.25"; echo "$SM_HP_ETA" > $SM_MODEL_DIR/model.txt`)
	tin.HyperParameters = map[string]string{"eta": "0.2"}
	tin.AlgorithmSpecification.MetricDefinitions = []types.MetricDefinition{{Name: aws.String("train:rmse"), Regex: aws.String(`train-rmse:([0-9.]+)`)}}
	if _, err := c.CreateTrainingJob(ctx, tin); err != nil {
		t.Fatal(err)
	}
	tw := sm.NewTrainingJobCompletedOrStoppedWaiter(c, func(o *sm.TrainingJobCompletedOrStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
	})
	tr, err := tw.WaitForOutput(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String("train")}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if tr.TrainingJobStatus != types.TrainingJobStatusCompleted || tr.SecondaryStatus != types.SecondaryStatusCompleted {
		t.Fatalf("training %s/%s %s", tr.TrainingJobStatus, tr.SecondaryStatus, aws.ToString(tr.FailureReason))
	}
	if aws.ToString(tr.ModelArtifacts.S3ModelArtifacts) != "s3://models/out/train/output/model.tar.gz" {
		t.Errorf("model %s", aws.ToString(tr.ModelArtifacts.S3ModelArtifacts))
	}
	if len(tr.FinalMetricDataList) != 1 || aws.ToFloat32(tr.FinalMetricDataList[0].Value) != 1.25 || tr.FinalMetricDataList[0].Timestamp == nil {
		t.Errorf("metrics %+v", tr.FinalMetricDataList)
	}
	var seq []string
	for _, s := range tr.SecondaryStatusTransitions {
		seq = append(seq, string(s.Status))
		if s.StartTime == nil || s.EndTime == nil {
			t.Errorf("transition %s without times", s.Status)
		}
	}
	if strings.Join(seq, ",") != "Starting,Downloading,Training,Uploading,Completed" {
		t.Errorf("transitions %v", seq)
	}
	if tr.HyperParameters["eta"] != "0.2" || aws.ToInt32(tr.StoppingCondition.MaxRuntimeInSeconds) != 300 || aws.ToInt32(tr.TrainingTimeInSeconds) < 1 {
		t.Errorf("echo: %+v", tr)
	}

	// Lists page with MaxResults and the token.
	if _, err := c.CreateProcessingJob(ctx, processingInput("prep-2", "true")); err != nil {
		t.Fatal(err)
	}
	var names []string
	pg := sm.NewListProcessingJobsPaginator(c, &sm.ListProcessingJobsInput{MaxResults: aws.Int32(1), SortBy: types.SortByName, SortOrder: types.SortOrderDescending})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.ProcessingJobSummaries {
			names = append(names, aws.ToString(s.ProcessingJobName))
		}
	}
	if strings.Join(names, ",") != "prep-2,prep" {
		t.Errorf("paged list %v", names)
	}
	lt, err := c.ListTrainingJobs(ctx, &sm.ListTrainingJobsInput{StatusEquals: types.TrainingJobStatusCompleted, NameContains: aws.String("rai")})
	if err != nil || len(lt.TrainingJobSummaries) != 1 || lt.TrainingJobSummaries[0].TrainingEndTime == nil {
		t.Errorf("ListTrainingJobs = %+v, %v", lt, err)
	}
}

func TestStopTrainingJobOverTheAPI(t *testing.T) {
	srv := jobServer(t)
	c := srv.SageMaker()
	ctx := context.Background()
	if _, err := c.CreateTrainingJob(ctx, trainingInput("sleeper", `echo partial > $SM_MODEL_DIR/m.txt; echo ready; sleep 60`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := c.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String("sleeper")})
		if err != nil {
			t.Fatal(err)
		}
		if d.SecondaryStatus == types.SecondaryStatusTraining {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never started training: %s", d.SecondaryStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := c.StopTrainingJob(ctx, &sm.StopTrainingJobInput{TrainingJobName: aws.String("sleeper")}); err != nil {
		t.Fatal(err)
	}
	var d *sm.DescribeTrainingJobOutput
	for time.Now().Before(deadline) {
		var err error
		d, err = c.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String("sleeper")})
		if err != nil {
			t.Fatal(err)
		}
		if d.TrainingJobStatus == types.TrainingJobStatusStopped {
			break
		}
		if d.TrainingJobStatus != types.TrainingJobStatusStopping {
			t.Fatalf("after stop: %s", d.TrainingJobStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d.TrainingJobStatus != types.TrainingJobStatusStopped || d.SecondaryStatus != types.SecondaryStatusStopped {
		t.Fatalf("final %s/%s", d.TrainingJobStatus, d.SecondaryStatus)
	}
	_, err := c.StopTrainingJob(ctx, &sm.StopTrainingJobInput{TrainingJobName: aws.String("sleeper")})
	if apiCodeOf(err) != "ValidationException" || !strings.Contains(err.Error(), "status Stopped") {
		t.Errorf("stopping twice: %v", err)
	}
}

func apiCodeOf(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	for _, code := range []string{"ValidationException", "ResourceInUse", "ResourceNotFound"} {
		if strings.Contains(msg, code) {
			return code
		}
	}
	return msg
}

func TestJobErrorsAreSageMakers(t *testing.T) {
	srv := jobServer(t)
	c := srv.SageMaker()
	ctx := context.Background()
	if _, err := c.CreateProcessingJob(ctx, processingInput("dup", "true")); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateProcessingJob(ctx, processingInput("dup", "true"))
	if apiCodeOf(err) != "ResourceInUse" || !strings.Contains(err.Error(), "Job name must be unique within an AWS account and region, and a job with this name already exists (arn:aws:sagemaker:us-east-1:000000000000:processing-job/dup)") {
		t.Errorf("duplicate: %v", err)
	}
	_, err = c.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String("missing")})
	if apiCodeOf(err) != "ValidationException" || !strings.Contains(err.Error(), "Requested resource not found.") {
		t.Errorf("missing: %v", err)
	}

	base := `"RoleArn":"arn:aws:iam::000000000000:role/r","ProcessingResources":{"ClusterConfig":{"InstanceCount":1,"InstanceType":"ml.m5.large","VolumeSizeInGB":1}},"AppSpecification":{"ImageUri":"test/sh","ContainerArguments":["true"]}`
	cases := []struct {
		name, op, body, want string
	}{
		{"missing name", "CreateProcessingJob", `{` + base + `}`, "Value null at 'processingJobName' failed to satisfy constraint: Member must not be null"},
		{"bad name", "CreateProcessingJob", `{"ProcessingJobName":"no_underscores",` + base + `}`, "at 'processingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"bad role", "CreateProcessingJob", `{"ProcessingJobName":"ok","RoleArn":"role","ProcessingResources":{"ClusterConfig":{"InstanceCount":1,"InstanceType":"ml.m5.large","VolumeSizeInGB":1}},"AppSpecification":{"ImageUri":"test/sh"}}`, "at 'roleArn'"},
		{"bad enum", "CreateProcessingJob", `{"ProcessingJobName":"ok",` + base + `,"ProcessingInputs":[{"InputName":"i","S3Input":{"S3Uri":"s3://b/k","LocalPath":"/opt/ml/processing/i","S3DataType":"Folder"}}]}`, "Member must satisfy enum value set: [ManifestFile, S3Prefix]"},
		{"too long", "CreateProcessingJob", `{"ProcessingJobName":"ok",` + base + `,"StoppingCondition":{"MaxRuntimeInSeconds":999999}}`, "Member must have value between 1 and 604800"},
		{"unknown image", "CreateProcessingJob", `{"ProcessingJobName":"ok","RoleArn":"arn:aws:iam::000000000000:role/r","ProcessingResources":{"ClusterConfig":{"InstanceCount":1,"InstanceType":"ml.m5.large","VolumeSizeInGB":1}},"AppSpecification":{"ImageUri":"nobody/knows"}}`, "map it to a local command"},
		{"training without output", "CreateTrainingJob", `{"TrainingJobName":"t","RoleArn":"arn:aws:iam::000000000000:role/r","AlgorithmSpecification":{"TrainingImage":"test/sh","TrainingInputMode":"File"},"ResourceConfig":{"VolumeSizeInGB":1},"StoppingCondition":{}}`, "Value null at 'outputDataConfig'"},
		{"wrong type", "CreateTrainingJob", `{"TrainingJobName":7}`, "Cannot read field"},
		{"bad list token", "ListTrainingJobs", `{"NextToken":"garbage"}`, "Invalid pagination token"},
		{"bad sort", "ListProcessingJobs", `{"SortBy":"Size"}`, "Member must satisfy enum value set: [Name, CreationTime, Status]"},
	}
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			status, body := jobCall(t, srv, cs.op, cs.body)
			msg, _ := body["message"].(string)
			if status != 400 || !strings.Contains(msg, cs.want) {
				t.Errorf("got %d %v, want 400 with %q", status, body, cs.want)
			}
		})
	}
	status, body := jobCall(t, srv, "DescribeProcessingJob", `{"ProcessingJobName":"dup"}`)
	if _, isNumber := body["CreationTime"].(float64); status != 200 || !isNumber || body["Tags"] != nil || body["ProcessingJobArn"] == nil {
		t.Errorf("wire shape of DescribeProcessingJob: %d %v", status, body)
	}
}
