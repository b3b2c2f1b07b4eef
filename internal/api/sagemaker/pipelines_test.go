package sagemaker_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// shProcessing is a Processing step running a shell script in the test/sh image.
func shProcessing(name, script string, outputs ...string) map[string]any {
	var outs []any
	for _, o := range outputs {
		outs = append(outs, map[string]any{"OutputName": o, "S3Output": map[string]any{
			"S3Uri": map[string]any{"Std:Join": map[string]any{"On": "/", "Values": []any{
				"s3://sluice-default", map[string]any{"Get": "Execution.PipelineExecutionId"}, name, o}}},
			"LocalPath": "/opt/ml/processing/" + o, "S3UploadMode": "EndOfJob"}})
	}
	args := map[string]any{
		"AppSpecification":    map[string]any{"ImageUri": "test/sh", "ContainerArguments": []any{script}},
		"ProcessingResources": map[string]any{"ClusterConfig": map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}},
		"RoleArn":             "arn:aws:iam::000000000000:role/SageMakerRole",
	}
	if len(outs) > 0 {
		args["ProcessingOutputConfig"] = map[string]any{"Outputs": outs}
	}
	return map[string]any{"Name": name, "Type": "Processing", "Arguments": args}
}

func pipelineJSON(params []any, steps ...map[string]any) string {
	if params == nil {
		params = []any{}
	}
	b, _ := json.Marshal(map[string]any{"Version": "2020-12-01", "Metadata": map[string]any{}, "Parameters": params, "Steps": steps})
	return string(b)
}

// gatedPipeline evaluates a score written by a job and registers a model when it is high
// enough, failing with a message otherwise.
func gatedPipeline() string {
	eval := shProcessing("Evaluate", `echo "{\"metrics\":{\"score\":$SCORE}}" > /opt/ml/processing/evaluation/evaluation.json`, "evaluation")
	eval["Arguments"].(map[string]any)["Environment"] = map[string]any{"SCORE": map[string]any{"Get": "Parameters.Score"}}
	eval["PropertyFiles"] = []any{map[string]any{"PropertyFileName": "Report", "OutputName": "evaluation", "FilePath": "evaluation.json"}}
	register := map[string]any{"Name": "Register", "Type": "RegisterModel", "Arguments": map[string]any{
		"ModelPackageGroupName": "Gated", "ModelApprovalStatus": "PendingManualApproval",
		"InferenceSpecification": map[string]any{"Containers": []any{map[string]any{"Image": "sluice/xgboost", "ModelDataUrl": "s3://sluice-default/model.tar.gz"}},
			"SupportedContentTypes": []any{"text/csv"}, "SupportedResponseMIMETypes": []any{"text/csv"}}}}
	fail := map[string]any{"Name": "TooLow", "Type": "Fail", "Arguments": map[string]any{"ErrorMessage": map[string]any{
		"Std:Join": map[string]any{"On": " ", "Values": []any{"score below", map[string]any{"Get": "Parameters.Threshold"}}}}}}
	cond := map[string]any{"Name": "Good", "Type": "Condition", "Arguments": map[string]any{
		"Conditions": []any{map[string]any{"Type": "GreaterThanOrEqualTo",
			"LeftValue":  map[string]any{"Std:JsonGet": map[string]any{"PropertyFile": map[string]any{"Get": "Steps.Evaluate.PropertyFiles.Report"}, "Path": "metrics.score"}},
			"RightValue": map[string]any{"Get": "Parameters.Threshold"}}},
		"IfSteps": []any{register}, "ElseSteps": []any{fail}}}
	params := []any{
		map[string]any{"Name": "Score", "Type": "Float", "DefaultValue": 0.9},
		map[string]any{"Name": "Threshold", "Type": "Float", "DefaultValue": 0.8},
	}
	return pipelineJSON(params, eval, cond)
}

func waitExecution(t *testing.T, c *sm.Client, arn string, want ...types.PipelineExecutionStatus) *sm.DescribePipelineExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		x, err := c.DescribePipelineExecution(context.Background(), &sm.DescribePipelineExecutionInput{PipelineExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if x.PipelineExecutionStatus == w {
				return x
			}
		}
		if time.Now().After(deadline) {
			steps, _ := c.ListPipelineExecutionSteps(context.Background(), &sm.ListPipelineExecutionStepsInput{PipelineExecutionArn: aws.String(arn)})
			var b strings.Builder
			for _, s := range steps.PipelineExecutionSteps {
				b.WriteString(aws.ToString(s.StepName) + " " + string(s.StepStatus) + " " + aws.ToString(s.FailureReason) + "\n")
			}
			t.Fatalf("execution is %s (%s), want %v; steps:\n%s", x.PipelineExecutionStatus, aws.ToString(x.FailureReason), want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stepsByName(t *testing.T, c *sm.Client, arn string) map[string]types.PipelineExecutionStep {
	t.Helper()
	out, err := c.ListPipelineExecutionSteps(context.Background(), &sm.ListPipelineExecutionStepsInput{PipelineExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]types.PipelineExecutionStep{}
	for _, s := range out.PipelineExecutionSteps {
		m[aws.ToString(s.StepName)] = s
	}
	return m
}

func plErrCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestPipelinesWithTheGoSDK(t *testing.T) {
	srv := jobServer(t)
	c := srv.SageMaker()
	ctx := context.Background()

	// The SageMaker Python SDK's abalone definition is accepted as it is.
	sdkDef, err := os.ReadFile("../../pipeline/testdata/abalone.good.json")
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{
		PipelineName: aws.String("AbalonePipeline"), PipelineDefinition: aws.String(string(sdkDef)),
		RoleArn: aws.String("arn:aws:iam::111122223333:role/SageMakerPipelineRole"), PipelineDescription: aws.String("from the SDK"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ml")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(created.PipelineArn), ":pipeline/abalonepipeline") {
		t.Errorf("PipelineArn = %s", aws.ToString(created.PipelineArn))
	}
	d, err := c.DescribePipeline(ctx, &sm.DescribePipelineInput{PipelineName: aws.String("AbalonePipeline")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.PipelineDefinition) != string(sdkDef) || d.PipelineStatus != types.PipelineStatusActive || d.CreationTime == nil {
		t.Errorf("DescribePipeline: status %s, definition kept: %v", d.PipelineStatus, aws.ToString(d.PipelineDefinition) == string(sdkDef))
	}
	up, err := c.UpdatePipeline(ctx, &sm.UpdatePipelineInput{PipelineName: created.PipelineArn, PipelineDescription: aws.String("updated"),
		ParallelismConfiguration: &types.ParallelismConfiguration{MaxParallelExecutionSteps: aws.Int32(2)}})
	if err != nil || aws.ToInt64(up.PipelineVersionId) != 2 {
		t.Fatalf("UpdatePipeline: %+v, %v", up, err)
	}
	tags, err := c.ListTags(ctx, &sm.ListTagsInput{ResourceArn: created.PipelineArn})
	if err != nil || len(tags.Tags) != 1 {
		t.Errorf("tags: %+v, %v", tags, err)
	}

	// A pipeline that runs real jobs end to end.
	if _, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("gated"), PipelineDefinition: aws.String(gatedPipeline()),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/SageMakerRole")}); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListPipelines(ctx, &sm.ListPipelinesInput{SortBy: types.SortPipelinesByName, SortOrder: types.SortOrderAscending})
	if err != nil || len(list.PipelineSummaries) != 2 || aws.ToString(list.PipelineSummaries[0].PipelineName) != "AbalonePipeline" {
		t.Fatalf("ListPipelines: %+v, %v", list, err)
	}
	start, err := c.StartPipelineExecution(ctx, &sm.StartPipelineExecutionInput{PipelineName: aws.String("gated"),
		PipelineParameters:           []types.Parameter{{Name: aws.String("Score"), Value: aws.String("0.95")}},
		PipelineExecutionDisplayName: aws.String("first-run")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(start.PipelineExecutionArn)
	x := waitExecution(t, c, arn, types.PipelineExecutionStatusSucceeded, types.PipelineExecutionStatusFailed)
	if x.PipelineExecutionStatus != types.PipelineExecutionStatusSucceeded {
		t.Fatalf("execution %s: %s", x.PipelineExecutionStatus, aws.ToString(x.FailureReason))
	}
	if aws.ToString(x.PipelineExecutionDisplayName) != "first-run" || x.PipelineExperimentConfig != nil {
		t.Errorf("DescribePipelineExecution: %+v", x)
	}
	steps := stepsByName(t, c, arn)
	if s := steps["Evaluate"]; s.StepStatus != types.StepStatusSucceeded || s.Metadata == nil || s.Metadata.ProcessingJob == nil ||
		!strings.Contains(aws.ToString(s.Metadata.ProcessingJob.Arn), ":processing-job/pipelines-") {
		t.Errorf("Evaluate step: %+v", s)
	}
	if s := steps["Good"]; s.Metadata == nil || s.Metadata.Condition == nil || s.Metadata.Condition.Outcome != types.ConditionOutcomeTrue {
		t.Errorf("Condition step: %+v", s)
	}
	reg := steps["Register"]
	if reg.Metadata == nil || reg.Metadata.RegisterModel == nil || !strings.HasSuffix(aws.ToString(reg.Metadata.RegisterModel.Arn), "model-package/gated/1") {
		t.Errorf("RegisterModel step: %+v", reg)
	}
	if _, ran := steps["TooLow"]; ran {
		t.Error("the Fail step of the branch not taken is listed")
	}
	pkg, err := c.DescribeModelPackage(ctx, &sm.DescribeModelPackageInput{ModelPackageName: reg.Metadata.RegisterModel.Arn})
	if err != nil || pkg.ModelApprovalStatus != types.ModelApprovalStatusPendingManualApproval {
		t.Errorf("registered package: %+v, %v", pkg, err)
	}
	params, err := c.ListPipelineParametersForExecution(ctx, &sm.ListPipelineParametersForExecutionInput{PipelineExecutionArn: aws.String(arn)})
	if err != nil || len(params.PipelineParameters) != 2 || aws.ToString(params.PipelineParameters[0].Value) != "0.95" || aws.ToString(params.PipelineParameters[1].Value) != "0.8" {
		t.Errorf("ListPipelineParametersForExecution: %+v, %v", params, err)
	}
	def, err := c.DescribePipelineDefinitionForExecution(ctx, &sm.DescribePipelineDefinitionForExecutionInput{PipelineExecutionArn: aws.String(arn)})
	if err != nil || aws.ToString(def.PipelineDefinition) != gatedPipeline() {
		t.Errorf("DescribePipelineDefinitionForExecution: %v", err)
	}

	// Below the threshold, the Fail step's message is the execution's failure.
	low, err := c.StartPipelineExecution(ctx, &sm.StartPipelineExecutionInput{PipelineName: aws.String("gated"),
		PipelineParameters: []types.Parameter{{Name: aws.String("Score"), Value: aws.String("0.5")}}})
	if err != nil {
		t.Fatal(err)
	}
	lx := waitExecution(t, c, aws.ToString(low.PipelineExecutionArn), types.PipelineExecutionStatusSucceeded, types.PipelineExecutionStatusFailed)
	if lx.PipelineExecutionStatus != types.PipelineExecutionStatusFailed || aws.ToString(lx.FailureReason) != "score below 0.8" {
		t.Errorf("low score: %s %q", lx.PipelineExecutionStatus, aws.ToString(lx.FailureReason))
	}
	if s := stepsByName(t, c, aws.ToString(low.PipelineExecutionArn))["TooLow"]; s.Metadata == nil || s.Metadata.Fail == nil || aws.ToString(s.Metadata.Fail.ErrorMessage) != "score below 0.8" {
		t.Errorf("Fail step: %+v", s)
	}
	execs, err := c.ListPipelineExecutions(ctx, &sm.ListPipelineExecutionsInput{PipelineName: aws.String("gated"), MaxResults: aws.Int32(1)})
	if err != nil || len(execs.PipelineExecutionSummaries) != 1 || execs.NextToken == nil ||
		aws.ToString(execs.PipelineExecutionSummaries[0].PipelineExecutionArn) != aws.ToString(low.PipelineExecutionArn) {
		t.Fatalf("ListPipelineExecutions page 1: %+v, %v", execs, err)
	}
	next, err := c.ListPipelineExecutions(ctx, &sm.ListPipelineExecutionsInput{PipelineName: aws.String("gated"), MaxResults: aws.Int32(1), NextToken: execs.NextToken})
	if err != nil || len(next.PipelineExecutionSummaries) != 1 || aws.ToString(next.PipelineExecutionSummaries[0].PipelineExecutionArn) != arn {
		t.Fatalf("ListPipelineExecutions page 2: %+v, %v", next, err)
	}

	// Deleting a pipeline removes its executions' records.
	if _, err := c.DeletePipeline(ctx, &sm.DeletePipelineInput{PipelineName: aws.String("gated")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribePipelineExecution(ctx, &sm.DescribePipelineExecutionInput{PipelineExecutionArn: aws.String(arn)}); plErrCode(err) != "ResourceNotFound" {
		t.Errorf("execution of a deleted pipeline: %v", err)
	}
}

func TestPipelineErrorsAreSageMakers(t *testing.T) {
	srv := jobServer(t)
	c := srv.SageMaker()
	ctx := context.Background()
	role := aws.String("arn:aws:iam::000000000000:role/SageMakerRole")
	tests := []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"missing pipeline", func() error {
			_, err := c.DescribePipeline(ctx, &sm.DescribePipelineInput{PipelineName: aws.String("nope")})
			return err
		}, "ResourceNotFound", "does not exist"},
		{"invalid definition", func() error {
			_, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("bad"), RoleArn: role,
				PipelineDefinition: aws.String(`{"Version":"2020-12-01","Steps":[{"Name":"A","Type":"Processing"}]}`)})
			return err
		}, "ValidationException", `step "A": Arguments: required`},
		{"no definition", func() error {
			_, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("empty"), RoleArn: role})
			return err
		}, "ValidationException", "definition is required"},
		{"unknown parameter", func() error {
			c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("p"), RoleArn: role, PipelineDefinition: aws.String(gatedPipeline())})
			_, err := c.StartPipelineExecution(ctx, &sm.StartPipelineExecutionInput{PipelineName: aws.String("p"),
				PipelineParameters: []types.Parameter{{Name: aws.String("Nope"), Value: aws.String("1")}}})
			return err
		}, "ValidationException", `parameter "Nope": not declared`},
		{"duplicate name", func() error {
			_, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("P"), RoleArn: role, PipelineDefinition: aws.String(gatedPipeline())})
			return err
		}, "ValidationException", "already exists"},
		{"missing execution", func() error {
			_, err := c.DescribePipelineExecution(ctx, &sm.DescribePipelineExecutionInput{
				PipelineExecutionArn: aws.String("arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/aaaaaaaaaaaa")})
			return err
		}, "ResourceNotFound", "does not exist"},
		{"unknown callback token", func() error {
			_, err := c.SendPipelineExecutionStepSuccess(ctx, &sm.SendPipelineExecutionStepSuccessInput{CallbackToken: aws.String("abcdefghij")})
			return err
		}, "ResourceNotFound", "callback token"},
		{"bad execution ARN", func() error {
			_, err := c.DescribePipelineExecution(ctx, &sm.DescribePipelineExecutionInput{PipelineExecutionArn: aws.String("arn:aws:sagemaker:us-east-1:000000000000:pipeline/p")})
			return err
		}, "ValidationException", "pipelineExecutionArn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || !strings.Contains(ae.ErrorMessage(), tc.msg) {
				t.Fatalf("got %v, want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestPipelineCallbackAndStopWithTheGoSDK(t *testing.T) {
	srv := jobServer(t)
	c := srv.SageMaker()
	ctx := context.Background()
	cb := map[string]any{"Name": "Approve", "Type": "Callback", "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/approvals",
		"OutputParameters": []any{map[string]any{"OutputName": "ticket", "OutputType": "String"}}, "Arguments": map[string]any{}}
	after := shProcessing("After", `test "$TICKET" = "T-42"`)
	after["Arguments"].(map[string]any)["Environment"] = map[string]any{"TICKET": map[string]any{"Get": "Steps.Approve.OutputParameters['ticket']"}}
	slow := shProcessing("Slow", `sleep 30`)
	if _, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("gate"), RoleArn: aws.String("arn:aws:iam::000000000000:role/R"),
		PipelineDefinition: aws.String(pipelineJSON(nil, cb, after))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("slow"), RoleArn: aws.String("arn:aws:iam::000000000000:role/R"),
		PipelineDefinition: aws.String(pipelineJSON(nil, slow))}); err != nil {
		t.Fatal(err)
	}

	start, err := c.StartPipelineExecution(ctx, &sm.StartPipelineExecutionInput{PipelineName: aws.String("gate")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(start.PipelineExecutionArn)
	var token string
	for deadline := time.Now().Add(10 * time.Second); token == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s, ok := stepsByName(t, c, arn)["Approve"]; ok && s.Metadata != nil && s.Metadata.Callback != nil {
			token = aws.ToString(s.Metadata.Callback.CallbackToken)
			if aws.ToString(s.Metadata.Callback.SqsQueueUrl) == "" || s.StepStatus != types.StepStatusExecuting {
				t.Errorf("callback step: %+v", s)
			}
		}
	}
	if token == "" {
		t.Fatal("no callback token listed")
	}
	ok, err := c.SendPipelineExecutionStepSuccess(ctx, &sm.SendPipelineExecutionStepSuccessInput{CallbackToken: aws.String(token),
		OutputParameters: []types.OutputParameter{{Name: aws.String("ticket"), Value: aws.String("T-42")}}})
	if err != nil || aws.ToString(ok.PipelineExecutionArn) != arn {
		t.Fatalf("SendPipelineExecutionStepSuccess: %+v, %v", ok, err)
	}
	x := waitExecution(t, c, arn, types.PipelineExecutionStatusSucceeded, types.PipelineExecutionStatusFailed)
	if x.PipelineExecutionStatus != types.PipelineExecutionStatusSucceeded {
		t.Fatalf("after the callback: %s %s", x.PipelineExecutionStatus, aws.ToString(x.FailureReason))
	}
	if s := stepsByName(t, c, arn)["Approve"]; len(s.Metadata.Callback.OutputParameters) != 1 {
		t.Errorf("callback outputs in metadata: %+v", s.Metadata.Callback)
	}

	// Stop an execution whose job runs: the job is stopped, the execution ends Stopped.
	slowStart, err := c.StartPipelineExecution(ctx, &sm.StartPipelineExecutionInput{PipelineName: aws.String("slow")})
	if err != nil {
		t.Fatal(err)
	}
	sarn := aws.ToString(slowStart.PipelineExecutionArn)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, ok := stepsByName(t, c, sarn)["Slow"]; ok && s.StepStatus == types.StepStatusExecuting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow step did not start")
		}
	}
	if _, err := c.StopPipelineExecution(ctx, &sm.StopPipelineExecutionInput{PipelineExecutionArn: aws.String(sarn)}); err != nil {
		t.Fatal(err)
	}
	waitExecution(t, c, sarn, types.PipelineExecutionStatusStopped)
	s := stepsByName(t, c, sarn)["Slow"]
	jobARN := aws.ToString(s.Metadata.ProcessingJob.Arn)
	job, err := c.DescribeProcessingJob(ctx, &sm.DescribeProcessingJobInput{ProcessingJobName: aws.String(jobARN[strings.LastIndexByte(jobARN, '/')+1:])})
	if err != nil || job.ProcessingJobStatus != types.ProcessingJobStatusStopped || s.StepStatus != types.StepStatusStopped {
		t.Errorf("after stop: step %s, job %+v, %v", s.StepStatus, job, err)
	}
	if _, err := c.RetryPipelineExecution(ctx, &sm.RetryPipelineExecutionInput{PipelineExecutionArn: aws.String(arn)}); plErrCode(err) != "ConflictException" {
		t.Errorf("retrying a succeeded execution: %v", err)
	}
}

func TestPipelineResumesAfterAServerRestart(t *testing.T) {
	dir := t.TempDir()
	opts := func(dir string) []servertest.Option {
		return []servertest.Option{servertest.WithDataDir(dir), func(c *config.Config) { c.Jobs.Images = map[string]string{"test/sh": "/bin/sh -c"} }}
	}
	srv := servertest.Start(t, opts(dir)...)
	c := srv.SageMaker()
	ctx := context.Background()
	def := pipelineJSON(nil, shProcessing("First", `echo one`), func() map[string]any {
		s := shProcessing("Second", `sleep 1; echo two`)
		s["DependsOn"] = []any{"First"}
		return s
	}(), func() map[string]any {
		s := shProcessing("Third", `echo three`)
		s["DependsOn"] = []any{"Second"}
		return s
	}())
	if _, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("durable"), RoleArn: aws.String("arn:aws:iam::000000000000:role/R"),
		PipelineDefinition: aws.String(def)}); err != nil {
		t.Fatal(err)
	}
	start, err := c.StartPipelineExecution(ctx, &sm.StartPipelineExecutionInput{PipelineName: aws.String("durable")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(start.PipelineExecutionArn)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, ok := stepsByName(t, c, arn)["Second"]; ok && s.StepStatus == types.StepStatusExecuting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second step did not start")
		}
	}
	firstJob := aws.ToString(stepsByName(t, c, arn)["First"].Metadata.ProcessingJob.Arn)
	srv.Stop(t) // mid-execution

	srv2 := servertest.Start(t, opts(dir)...)
	c2 := srv2.SageMaker()
	x := waitExecution(t, c2, arn, types.PipelineExecutionStatusSucceeded, types.PipelineExecutionStatusFailed)
	if x.PipelineExecutionStatus != types.PipelineExecutionStatusSucceeded {
		t.Fatalf("after restart: %s %s", x.PipelineExecutionStatus, aws.ToString(x.FailureReason))
	}
	steps := stepsByName(t, c2, arn)
	if aws.ToString(steps["First"].Metadata.ProcessingJob.Arn) != firstJob || aws.ToInt32(steps["First"].AttemptCount) != 1 {
		t.Errorf("the finished first step changed: %+v", steps["First"])
	}
	for _, name := range []string{"Second", "Third"} {
		if steps[name].StepStatus != types.StepStatusSucceeded || aws.ToInt32(steps[name].AttemptCount) != 1 {
			t.Errorf("step %s: %+v", name, steps[name])
		}
	}
	jobs, err := c2.ListProcessingJobs(ctx, &sm.ListProcessingJobsInput{})
	if err != nil || len(jobs.ProcessingJobSummaries) != 3 {
		t.Errorf("%d processing jobs for three steps (%v): the second step's job was re-attached, not duplicated", len(jobs.ProcessingJobSummaries), err)
	}
}

func TestPipelineDefinitionFromTheArtifactStore(t *testing.T) {
	srv := jobServer(t)
	c := srv.SageMaker()
	ctx := context.Background()
	putObject(t, srv, "s3://defs/gated.json", gatedPipeline())
	loc := &types.PipelineDefinitionS3Location{Bucket: aws.String("defs"), ObjectKey: aws.String("gated.json")}
	if _, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("from-s3"), PipelineDefinitionS3Location: loc,
		RoleArn: aws.String("arn:aws:iam::000000000000:role/R")}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribePipeline(ctx, &sm.DescribePipelineInput{PipelineName: aws.String("from-s3")})
	if err != nil || aws.ToString(d.PipelineDefinition) != gatedPipeline() {
		t.Fatalf("DescribePipeline: %v", err)
	}
	// An update from the store replaces the definition; executions started before keep theirs.
	before, err := c.StartPipelineExecution(ctx, &sm.StartPipelineExecutionInput{PipelineName: aws.String("from-s3")})
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, srv, "s3://defs/v2.json", pipelineJSON(nil, shProcessing("Only", "true")))
	if _, err := c.UpdatePipeline(ctx, &sm.UpdatePipelineInput{PipelineName: aws.String("from-s3"),
		PipelineDefinitionS3Location: &types.PipelineDefinitionS3Location{Bucket: aws.String("defs"), ObjectKey: aws.String("v2.json")}}); err != nil {
		t.Fatal(err)
	}
	old, err := c.DescribePipelineDefinitionForExecution(ctx, &sm.DescribePipelineDefinitionForExecutionInput{PipelineExecutionArn: before.PipelineExecutionArn})
	if err != nil || aws.ToString(old.PipelineDefinition) != gatedPipeline() {
		t.Errorf("the running execution's definition changed: %v", err)
	}
	waitExecution(t, c, aws.ToString(before.PipelineExecutionArn), types.PipelineExecutionStatusSucceeded)
	after, err := c.StartPipelineExecution(ctx, &sm.StartPipelineExecutionInput{PipelineName: aws.String("from-s3")})
	if err != nil {
		t.Fatal(err)
	}
	waitExecution(t, c, aws.ToString(after.PipelineExecutionArn), types.PipelineExecutionStatusSucceeded)
	if steps := stepsByName(t, c, aws.ToString(after.PipelineExecutionArn)); len(steps) != 1 || steps["Only"].StepStatus != types.StepStatusSucceeded {
		t.Errorf("the new version's steps: %+v", steps)
	}
	_, err = c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("missing"), RoleArn: aws.String("arn:aws:iam::000000000000:role/R"),
		PipelineDefinitionS3Location: &types.PipelineDefinitionS3Location{Bucket: aws.String("defs"), ObjectKey: aws.String("nope.json")}})
	if plErrCode(err) != "ValidationException" || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a missing definition object: %v", err)
	}
}

// TestPipelineEmptyOutputLocationFailsTheStep: an output location that resolves to nothing when
// the step runs (a parameter left empty) fails the step, as SageMaker's CreateProcessingJob
// would, naming the field, instead of writing somewhere the definition never said.
func TestPipelineEmptyOutputLocationFailsTheStep(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) { c.Jobs.Images = map[string]string{"test/sh": "/bin/sh -c"} })
	c := srv.SageMaker()
	ctx := context.Background()
	prep := shProcessing("Prep", `echo 1 > /opt/ml/processing/train/x`, "train")
	out := prep["Arguments"].(map[string]any)["ProcessingOutputConfig"].(map[string]any)["Outputs"].([]any)[0].(map[string]any)
	out["S3Output"].(map[string]any)["S3Uri"] = map[string]any{"Get": "Parameters.OutputUri"}
	def := pipelineJSON([]any{map[string]any{"Name": "OutputUri", "Type": "String", "DefaultValue": ""}}, prep)
	if _, err := c.CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("empty-out"), RoleArn: aws.String("arn:aws:iam::000000000000:role/R"),
		PipelineDefinition: aws.String(def)}); err != nil {
		t.Fatal(err)
	}
	start, err := c.StartPipelineExecution(ctx, &sm.StartPipelineExecutionInput{PipelineName: aws.String("empty-out")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(start.PipelineExecutionArn)
	x := waitExecution(t, c, arn, types.PipelineExecutionStatusSucceeded, types.PipelineExecutionStatusFailed)
	s := stepsByName(t, c, arn)["Prep"]
	if x.PipelineExecutionStatus != types.PipelineExecutionStatusFailed || s.StepStatus != types.StepStatusFailed ||
		!strings.Contains(aws.ToString(s.FailureReason), "ProcessingOutputConfig.Outputs.1.S3Output.S3Uri") || !strings.Contains(aws.ToString(s.FailureReason), "must start with s3://") {
		t.Fatalf("execution %s (%s), step %s: %s", x.PipelineExecutionStatus, aws.ToString(x.FailureReason), s.StepStatus, aws.ToString(s.FailureReason))
	}
	// Nothing ran: the job was refused, not created.
	if jobs, err := c.ListProcessingJobs(ctx, &sm.ListProcessingJobsInput{}); err != nil || len(jobs.ProcessingJobSummaries) != 0 {
		t.Errorf("processing jobs %v (%v), want none", jobs.ProcessingJobSummaries, err)
	}
}
