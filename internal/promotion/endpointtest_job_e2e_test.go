package promotion_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"

	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// endpointTesterCommand makes the test binary a test script that a processing job runs: it
// invokes the endpoint the job's environment names, SigV4-signed with the key the job was
// given, and succeeds when the answer is the number it expects.
const endpointTesterCommand = "endpoint-tester"

// endpointTester is the job's program: endpoint-tester BODY WANT. It writes the reason for a
// failure to /opt/ml/output/failure and exits 1.
func endpointTester(args []string) int {
	fail := func(format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		ml := os.Getenv("SLUICE_OPT_ML")
		if ml == "" {
			ml = "/opt/ml"
		}
		os.WriteFile(filepath.Join(ml, "output", "failure"), []byte(msg), 0o644)
		fmt.Fprintln(os.Stderr, msg)
		return 1
	}
	if len(args) != 2 {
		return fail("usage: %s BODY WANT", endpointTesterCommand)
	}
	url, endpoint := os.Getenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"), os.Getenv("ENDPOINT_NAME")
	if url == "" || endpoint == "" || os.Getenv("SLUICE_ENDPOINT_URL") != url {
		return fail("the job was not told where the endpoint is: url %q, endpoint %q", url, endpoint)
	}
	cfg := aws.Config{Region: os.Getenv("AWS_REGION"),
		Credentials: credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), "")}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		cfg.Credentials = aws.AnonymousCredentials{} // unsigned, as a plain HTTP script would call
	}
	c := sagemakerruntime.NewFromConfig(cfg, func(o *sagemakerruntime.Options) {
		o.BaseEndpoint = aws.String(url)
		o.RetryMaxAttempts = 1
	})
	out, err := c.InvokeEndpoint(context.Background(), &sagemakerruntime.InvokeEndpointInput{EndpointName: aws.String(endpoint),
		ContentType: aws.String("text/csv"), Body: []byte(args[0])})
	if err != nil {
		return fail("invoking %s: %v", endpoint, err)
	}
	answer := strings.TrimSpace(string(out.Body))
	if _, err := strconv.ParseFloat(answer, 64); err != nil {
		return fail("endpoint %s answered %q, not a number", endpoint, answer)
	}
	if answer != args[1] {
		return fail("endpoint %s answered %s for %s, want %s", endpoint, answer, args[0], args[1])
	}
	fmt.Printf("endpoint %s answered %s\n", endpoint, answer)
	return 0
}

// TestEndpointTestRunsAProcessingJob: a deploy pipeline whose EndpointTest step runs a
// processing job against the staging endpoint. The job reaches the endpoint through the
// variables the step gives it, signs with the key the step passes, and the step passes or fails
// with the job; the job's ARN is in the step's metadata.
func TestEndpointTestRunsAProcessingJob(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, func(c *config.Config) {
		c.Jobs.Images = map[string]string{"sluice-test/endpoint-tester": strconv.Quote(exe) + " " + endpointTesterCommand}
	})
	ctx := context.Background()
	sluice(t, srv, "envs", "create", "testdata/staging.yaml", "--name", "staging")
	v1 := register(t, srv, "churn", types.ModelApprovalStatusApproved, false)

	pipeline := func(name, body, want, creds string) {
		def := fmt.Sprintf(`{"Version":"2020-12-01","Parameters":[{"Name":"ModelPackageArn","Type":"String"}],"Steps":[
		  {"Name":"DeployStaging","Type":"Sluice:Deploy","Arguments":{"Environment":"staging","ModelPackageArn":{"Get":"Parameters.ModelPackageArn"}}},
		  {"Name":"TestStaging","Type":"Sluice:EndpointTest","DependsOn":["DeployStaging"],"Arguments":{"Environment":"staging",%s
		    "ProcessingJob":{"RoleArn":"arn:aws:iam::000000000000:role/deploy",
		      "AppSpecification":{"ImageUri":"sluice-test/endpoint-tester","ContainerArguments":[%q,%q]},
		      "ProcessingResources":{"ClusterConfig":{"InstanceCount":1,"InstanceType":"ml.m5.large","VolumeSizeInGB":1}},
		      "ProcessingOutputConfig":{"Outputs":[{"OutputName":"report","S3Output":{"LocalPath":"/opt/ml/processing/report","S3UploadMode":"EndOfJob"}}]},
		      "StoppingCondition":{"MaxRuntimeInSeconds":120}}}}]}`, creds, body, want)
		if _, err := srv.SageMaker().CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String(name), PipelineDefinition: aws.String(def),
			RoleArn: aws.String("arn:aws:iam::000000000000:role/deploy")}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	key := fmt.Sprintf(`"Credentials":{"AccessKeyId":%q,"SecretAccessKey":%q},`, srv.AccessKey, srv.Secret)
	pipeline("staging-job-test", "1,1,1", "1.75", key)
	pipeline("staging-job-test-wrong", "1,1,1", "9", key)
	pipeline("staging-job-test-unsigned", "1,1,1", "1.75", "")

	testStep := func(exec string) types.PipelineExecutionStep {
		t.Helper()
		out, err := srv.SageMaker().ListPipelineExecutionSteps(ctx, &sm.ListPipelineExecutionStepsInput{PipelineExecutionArn: aws.String(exec)})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.PipelineExecutionSteps {
			if aws.ToString(s.StepName) == "TestStaging" {
				return s
			}
		}
		t.Fatalf("no TestStaging step: %s", stepsOf(t, srv, exec))
		return types.PipelineExecutionStep{}
	}
	jobOf := func(s types.PipelineExecutionStep) *sm.DescribeProcessingJobOutput {
		t.Helper()
		if s.Metadata == nil || s.Metadata.ProcessingJob == nil || !strings.Contains(aws.ToString(s.Metadata.ProcessingJob.Arn), ":processing-job/") {
			b, _ := json.Marshal(s.Metadata)
			t.Fatalf("step metadata lacks the processing job: %s", b)
		}
		arn := aws.ToString(s.Metadata.ProcessingJob.Arn)
		j, err := srv.SageMaker().DescribeProcessingJob(ctx, &sm.DescribeProcessingJobInput{ProcessingJobName: aws.String(arn[strings.LastIndex(arn, "/")+1:])})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}

	cases := []struct {
		name, pipeline, status, reason string
	}{
		{"the right answer passes", "staging-job-test", "Succeeded", ""},
		{"a wrong answer fails with the job's reason", "staging-job-test-wrong", "Failed", "endpoint churn-staging answered 1.75 for 1,1,1, want 9"},
		// Without Credentials the job has no key: the server refuses its unsigned call.
		{"no credentials are passed unless asked", "staging-job-test-unsigned", "Failed", "StatusCode: 403"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			exec := start(t, srv, c.pipeline, v1)
			st, why := waitExecution(t, srv, exec)
			if st != c.status || !strings.Contains(why, c.reason) {
				t.Fatalf("execution: %s: %s (steps %s)", st, why, stepsOf(t, srv, exec))
			}
			s := testStep(exec)
			j := jobOf(s)
			t.Logf("step %s (%s); job %s", s.StepStatus, aws.ToString(s.FailureReason), aws.ToString(j.ProcessingJobArn))
			if j.Environment["ENDPOINT_NAME"] != "churn-staging" || j.Environment["SLUICE_ENDPOINT_URL"] != srv.URL() ||
				j.Environment["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] != srv.URL() {
				t.Fatalf("job environment: %v", j.Environment)
			}
			_, hasKey := j.Environment["AWS_ACCESS_KEY_ID"]
			if hasKey != (c.pipeline != "staging-job-test-unsigned") {
				t.Fatalf("job environment has a key: %v", hasKey)
			}
			if c.status == "Failed" {
				if s.StepStatus != types.StepStatusFailed || !strings.Contains(aws.ToString(s.FailureReason), c.reason) ||
					j.ProcessingJobStatus != types.ProcessingJobStatusFailed {
					t.Fatalf("step %s (%s), job %s", s.StepStatus, aws.ToString(s.FailureReason), j.ProcessingJobStatus)
				}
				return
			}
			if s.StepStatus != types.StepStatusSucceeded || j.ProcessingJobStatus != types.ProcessingJobStatusCompleted {
				t.Fatalf("step %s, job %s", s.StepStatus, j.ProcessingJobStatus)
			}
			// An output the test job leaves without a location goes under the execution's
			// folder in the default bucket.
			execID := exec[strings.LastIndex(exec, "/")+1:]
			want := "s3://sluice-default/" + c.pipeline + "/" + execID + "/TestStaging/output/report"
			if outs := j.ProcessingOutputConfig; outs == nil || len(outs.Outputs) != 1 || outs.Outputs[0].S3Output == nil ||
				aws.ToString(outs.Outputs[0].S3Output.S3Uri) != want {
				b, _ := json.Marshal(outs)
				t.Fatalf("test job outputs %s, want the report at %s", b, want)
			}
		})
	}
}

// TestEndpointTestJobAgainstARemoteEnvironment: the job testing a remote environment's endpoint
// is pointed at the remote server and, with Credentials.FromEnvironment, signs with the
// environment's key; a local environment has no key to lend.
func TestEndpointTestJobAgainstARemoteEnvironment(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	build := servertest.Start(t, func(c *config.Config) {
		c.Jobs.Images = map[string]string{"sluice-test/endpoint-tester": strconv.Quote(exe) + " " + endpointTesterCommand}
	})
	prodSrv := servertest.Start(t)
	sluice(t, build, "envs", "create", "testdata/staging.yaml", "--name", "staging")
	b, _ := json.Marshal(map[string]any{"Name": "prod", "EndpointName": "churn-prod",
		"Remote": map[string]any{"Url": prodSrv.URL(), "AccessKeyId": prodSrv.AccessKey, "SecretAccessKey": prodSrv.Secret, "Region": prodSrv.Config.Region}})
	file := filepath.Join(t.TempDir(), "prod-config.json")
	os.WriteFile(file, b, 0o600)
	sluice(t, build, "envs", "create", file)
	v1 := register(t, build, "churn", types.ModelApprovalStatusApproved, false)

	for _, env := range []string{"prod", "staging"} {
		def := fmt.Sprintf(`{"Version":"2020-12-01","Parameters":[{"Name":"ModelPackageArn","Type":"String"}],"Steps":[
		  {"Name":"Deploy","Type":"Sluice:Deploy","Arguments":{"Environment":%q,"ModelPackageArn":{"Get":"Parameters.ModelPackageArn"}}},
		  {"Name":"TestEndpoint","Type":"Sluice:EndpointTest","DependsOn":["Deploy"],"Arguments":{"Environment":%q,"Credentials":{"FromEnvironment":true},
		    "ProcessingJob":{"RoleArn":"arn:aws:iam::000000000000:role/deploy",
		      "AppSpecification":{"ImageUri":"sluice-test/endpoint-tester","ContainerArguments":["1,1,1","1.75"]},
		      "ProcessingResources":{"ClusterConfig":{"InstanceCount":1,"InstanceType":"ml.m5.large","VolumeSizeInGB":1}}}}}]}`, env, env)
		if _, err := build.SageMaker().CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("test-" + env), PipelineDefinition: aws.String(def),
			RoleArn: aws.String("arn:aws:iam::000000000000:role/deploy")}); err != nil {
			t.Fatal(err)
		}
	}

	exec := start(t, build, "test-prod", v1)
	if st, why := waitExecution(t, build, exec); st != "Succeeded" {
		t.Fatalf("remote: %s: %s (steps %s)", st, why, stepsOf(t, build, exec))
	}
	out, err := build.SageMaker().ListPipelineExecutionSteps(ctx, &sm.ListPipelineExecutionStepsInput{PipelineExecutionArn: aws.String(exec)})
	if err != nil {
		t.Fatal(err)
	}
	var arn string
	for _, s := range out.PipelineExecutionSteps {
		if aws.ToString(s.StepName) == "TestEndpoint" && s.Metadata != nil && s.Metadata.ProcessingJob != nil {
			arn = aws.ToString(s.Metadata.ProcessingJob.Arn)
		}
	}
	if arn == "" {
		t.Fatalf("no processing job in the test step's metadata: %s", stepsOf(t, build, exec))
	}
	j, err := build.SageMaker().DescribeProcessingJob(ctx, &sm.DescribeProcessingJobInput{ProcessingJobName: aws.String(arn[strings.LastIndex(arn, "/")+1:])})
	if err != nil {
		t.Fatal(err)
	}
	if j.Environment["SLUICE_ENDPOINT_URL"] != prodSrv.URL() || j.Environment["ENDPOINT_NAME"] != "churn-prod" ||
		j.Environment["AWS_ACCESS_KEY_ID"] != prodSrv.AccessKey || j.ProcessingJobStatus != types.ProcessingJobStatusCompleted {
		t.Fatalf("remote test job: %s %v", j.ProcessingJobStatus, j.Environment)
	}

	exec = start(t, build, "test-staging", v1)
	if st, why := waitExecution(t, build, exec); st != "Failed" || !strings.Contains(why, "has no access key of its own") {
		t.Fatalf("FromEnvironment on a local environment: %s: %s", st, why)
	}
}
