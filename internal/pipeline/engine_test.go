package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

// abaloneShaped is the abalone pipeline's shape: prepare → train → evaluate (with a property
// file) → condition on the MSE → register and create the model, or fail with a message.
func abaloneShaped() string {
	params := []map[string]any{
		{"Name": "MseThreshold", "Type": "Float", "DefaultValue": 6.0},
		{"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"},
		{"Name": "InstanceCount", "Type": "Integer", "DefaultValue": 1},
	}
	prep := processingStep("Prep", "train", "test")
	prep["Arguments"].(map[string]any)["ProcessingResources"].(map[string]any)["ClusterConfig"].(map[string]any)["InstanceCount"] = get("Parameters.InstanceCount")
	train := trainingStep("Train", get("Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"))
	eval := processingStep("Eval", "evaluation")
	eval["Arguments"].(map[string]any)["ProcessingInputs"] = []any{
		map[string]any{"InputName": "model", "S3Input": map[string]any{"S3Uri": get("Steps.Train.ModelArtifacts.S3ModelArtifacts"),
			"LocalPath": "/opt/ml/processing/model", "S3DataType": "S3Prefix", "S3InputMode": "File"}},
		map[string]any{"InputName": "test", "S3Input": map[string]any{"S3Uri": get("Steps.Prep.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"),
			"LocalPath": "/opt/ml/processing/test", "S3DataType": "S3Prefix", "S3InputMode": "File"}},
	}
	eval["PropertyFiles"] = []any{map[string]any{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}}
	register := map[string]any{"Name": "Register", "Type": "RegisterModel", "Arguments": map[string]any{
		"ModelPackageGroupName": "AbaloneGroup",
		"ModelApprovalStatus":   get("Parameters.ModelApprovalStatus"),
		"InferenceSpecification": map[string]any{
			"Containers":                 []any{map[string]any{"Image": "sluice/xgboost", "ModelDataUrl": get("Steps.Train.ModelArtifacts.S3ModelArtifacts")}},
			"SupportedContentTypes":      []any{"text/csv"},
			"SupportedResponseMIMETypes": []any{"text/csv"},
		},
		"CustomerMetadataProperties": map[string]any{"team": "ml"},
	}}
	model := map[string]any{"Name": "CreateModel", "Type": "Model", "Arguments": map[string]any{
		"ExecutionRoleArn": "arn:aws:iam::000000000000:role/Pipe",
		"PrimaryContainer": map[string]any{"Image": "sluice/xgboost", "ModelDataUrl": get("Steps.Train.ModelArtifacts.S3ModelArtifacts")},
	}}
	fail := map[string]any{"Name": "MseFail", "Type": "Fail", "Arguments": map[string]any{
		"ErrorMessage": map[string]any{"Std:Join": map[string]any{"On": " ", "Values": []any{"Execution failed due to MSE >", get("Parameters.MseThreshold")}}},
	}}
	cond := map[string]any{"Name": "MseCond", "Type": "Condition", "Arguments": map[string]any{
		"Conditions": []any{map[string]any{"Type": "LessThanOrEqualTo",
			"LeftValue": map[string]any{"Std:JsonGet": map[string]any{
				"PropertyFile": get("Steps.Eval.PropertyFiles.EvaluationReport"), "Path": "regression_metrics.mse.value"}},
			"RightValue": get("Parameters.MseThreshold")}},
		"IfSteps":   []any{register, model},
		"ElseSteps": []any{fail},
	}}
	return definition(params, prep, train, eval, cond)
}

// writeEvaluation makes evaluation jobs write their report, as the evaluate image does.
func (h *harness) writeEvaluation(mse float64) {
	h.jobs.script = func(j *fakeJob) (string, string) {
		if j.proc != nil && strings.Contains(j.name, "-eval-") {
			uri := j.proc.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri + "/evaluation.json"
			h.put(uri, fmt.Sprintf(`{"regression_metrics":{"mse":{"value":%v,"standard_deviation":0.5}}}`, mse))
		}
		return jobs.StatusCompleted, ""
	}
}

func TestEngineAbaloneShapedPipelineRegistersWhenMSEIsLow(t *testing.T) {
	h := newHarness(t)
	h.createPipeline("Abalone", abaloneShaped())
	h.writeEvaluation(4.2)
	x := h.start("Abalone")
	x = h.wait(x.ARN, ExecutionSucceeded, ExecutionFailed)
	if x.Status != ExecutionSucceeded {
		t.Fatalf("execution %s: %s\n%s", x.Status, x.FailureReason, h.describeSteps(x.ARN))
	}
	steps := h.steps(x.ARN)
	for _, name := range []string{"Prep", "Train", "Eval", "MseCond", "Register", "CreateModel"} {
		if s, ok := steps[name]; !ok || s.Status != StepSucceeded || s.AttemptCount != 1 {
			t.Errorf("step %s: %+v", name, s)
		}
	}
	if _, ran := steps["MseFail"]; ran {
		t.Errorf("the Fail step of the branch not taken has a row: %+v", steps["MseFail"])
	}
	if got := metadata(t, steps["MseCond"])["Condition"]["Outcome"]; got != "True" {
		t.Errorf("Condition outcome = %v, want True", got)
	}
	prepJob := metadata(t, steps["Prep"])["ProcessingJob"]["Arn"].(string)
	if !strings.Contains(prepJob, ":processing-job/pipelines-"+x.ID+"-prep-") {
		t.Errorf("Prep's job ARN %s does not follow pipelines-<execution>-<step>-<suffix>", prepJob)
	}

	// Data flowed through properties: the training job read Prep's default output location,
	// and the evaluation read the model the training produced.
	var train, eval *fakeJob
	for _, j := range h.jobs.created() {
		switch {
		case j.train != nil:
			train = j
		case strings.Contains(j.name, "-eval-"):
			eval = j
		}
	}
	wantTrain := fmt.Sprintf("s3://%s/Abalone/%s/Prep/output/train", DefaultBucket, x.ID)
	if got := train.train.InputDataConfig[0].DataSource.S3DataSource.S3Uri; got != wantTrain {
		t.Errorf("training input = %s, want %s", got, wantTrain)
	}
	wantModel := fmt.Sprintf("s3://%s/models/Train/%s/output/model.tar.gz", DefaultBucket, train.name)
	if got := eval.proc.ProcessingInputs[0].S3Input.S3Uri; got != wantModel {
		t.Errorf("evaluation model input = %s, want %s", got, wantModel)
	}
	if got := h.jobs.created()[0].proc.ProcessingResources.ClusterConfig.InstanceCount; got != 1 {
		t.Errorf("InstanceCount from an Integer parameter = %d", got)
	}

	// The registered version waits for approval and points at the trained model.
	pkgARN := metadata(t, steps["Register"])["RegisterModel"]["Arn"].(string)
	pkg, err := h.reg.Package(context.Background(), pkgARN)
	if err != nil {
		t.Fatal(err)
	}
	if pkg.ApprovalStatus != registry.PendingManualApproval || pkg.GroupName != "AbaloneGroup" || pkg.Version != 1 {
		t.Errorf("registered package: %+v", pkg)
	}
	if cs, _ := pkg.Containers(); len(cs) != 1 || cs[0].ModelDataUrl != wantModel {
		t.Errorf("registered containers: %+v, want model %s", cs, wantModel)
	}
	modelARN := metadata(t, steps["CreateModel"])["Model"]["Arn"].(string)
	if !strings.Contains(modelARN, ":model/pipelines-"+x.ID+"-createmodel-") {
		t.Errorf("model ARN = %s", modelARN)
	}
}

func TestEngineAbaloneShapedPipelineFailsWithTheFailStepMessage(t *testing.T) {
	h := newHarness(t)
	h.createPipeline("Abalone", abaloneShaped())
	h.writeEvaluation(4.2)
	x := h.start("Abalone", ParameterValue{Name: "MseThreshold", Value: "3"})
	x = h.wait(x.ARN, ExecutionSucceeded, ExecutionFailed)
	if x.Status != ExecutionFailed || x.FailureReason != "Execution failed due to MSE > 3.0" {
		t.Fatalf("execution %s with reason %q, want Failed with the Fail step's message", x.Status, x.FailureReason)
	}
	steps := h.steps(x.ARN)
	fail := steps["MseFail"]
	if fail.Status != StepFailed || metadata(t, fail)["Fail"]["ErrorMessage"] != "Execution failed due to MSE > 3.0" {
		t.Errorf("Fail step: %+v %s", fail, fail.Metadata)
	}
	if got := metadata(t, steps["MseCond"])["Condition"]["Outcome"]; got != "False" {
		t.Errorf("Condition outcome = %v, want False", got)
	}
	for _, name := range []string{"Register", "CreateModel"} {
		if _, ran := steps[name]; ran {
			t.Errorf("step %s of the branch not taken ran", name)
		}
	}
	if page, _ := h.reg.ListPackages(context.Background(), registry.PackageQuery{}); len(page.Packages) != 0 {
		t.Errorf("a package was registered: %+v", page.Packages)
	}
}

func TestEngineConditionOperators(t *testing.T) {
	params := []map[string]any{
		{"Name": "Num", "Type": "Integer", "DefaultValue": 5},
		{"Name": "Ratio", "Type": "Float", "DefaultValue": 0.5},
		{"Name": "Env", "Type": "String", "DefaultValue": "prod"},
		{"Name": "Flag", "Type": "Boolean", "DefaultValue": true},
	}
	bin := func(typ string, l, r any) map[string]any {
		return map[string]any{"Type": typ, "LeftValue": l, "RightValue": r}
	}
	tests := []struct {
		name string
		cond map[string]any
		want string
	}{
		{"EqualsTrue", bin("Equals", get("Parameters.Num"), 5), "True"},
		{"EqualsFalse", bin("Equals", get("Parameters.Env"), "dev"), "False"},
		{"EqualsBoolean", bin("Equals", get("Parameters.Flag"), true), "True"},
		{"GreaterThan", bin("GreaterThan", get("Parameters.Num"), 4), "True"},
		{"GreaterThanEqualIsFalse", bin("GreaterThan", get("Parameters.Num"), 5), "False"},
		{"GreaterThanOrEqualTo", bin("GreaterThanOrEqualTo", get("Parameters.Num"), 5), "True"},
		{"LessThanMixedNumbers", bin("LessThan", get("Parameters.Ratio"), get("Parameters.Num")), "True"},
		{"LessThanOrEqualTo", bin("LessThanOrEqualTo", get("Parameters.Ratio"), 0.25), "False"},
		{"InTrue", map[string]any{"Type": "In", "QueryValue": get("Parameters.Env"), "Values": []any{"dev", "prod"}}, "True"},
		{"InFalse", map[string]any{"Type": "In", "QueryValue": get("Parameters.Env"), "Values": []any{"dev", "staging"}}, "False"},
		{"Not", map[string]any{"Type": "Not", "Condition": bin("Equals", get("Parameters.Env"), "dev")}, "True"},
		{"Or", map[string]any{"Type": "Or", "Conditions": []any{bin("Equals", get("Parameters.Num"), 1), bin("Equals", get("Parameters.Env"), "prod")}}, "True"},
		{"OrNone", map[string]any{"Type": "Or", "Conditions": []any{bin("Equals", get("Parameters.Num"), 1), bin("Equals", get("Parameters.Env"), "dev")}}, "False"},
		{"JoinOperand", bin("Equals", map[string]any{"Std:Join": map[string]any{"On": "-", "Values": []any{get("Parameters.Env"), get("Parameters.Num")}}}, "prod-5"), "True"},
	}
	var steps []map[string]any
	for _, tc := range tests {
		steps = append(steps, map[string]any{"Name": tc.name, "Type": "Condition", "Arguments": map[string]any{"Conditions": []any{tc.cond}}})
	}
	h := newHarness(t)
	h.createPipeline("Conditions", definition(params, steps...))
	x := h.wait(h.start("Conditions").ARN, ExecutionSucceeded, ExecutionFailed)
	got := h.steps(x.ARN)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := got[tc.name]
			if s.Status != StepSucceeded {
				t.Fatalf("status %s: %s", s.Status, s.FailureReason)
			}
			if o := metadata(t, s)["Condition"]["Outcome"]; o != tc.want {
				t.Errorf("Outcome = %v, want %s", o, tc.want)
			}
		})
	}
	if x.Status != ExecutionSucceeded {
		t.Errorf("execution %s: %s", x.Status, x.FailureReason)
	}
}

func TestEngineConditionOnIncomparableValuesFailsTheStep(t *testing.T) {
	h := newHarness(t)
	cond := map[string]any{"Name": "Bad", "Type": "Condition", "Arguments": map[string]any{
		"Conditions": []any{map[string]any{"Type": "GreaterThan", "LeftValue": "abc", "RightValue": 3}}}}
	h.createPipeline("Bad", definition(nil, cond))
	x := h.wait(h.start("Bad").ARN, ExecutionSucceeded, ExecutionFailed)
	s := h.steps(x.ARN)["Bad"]
	if x.Status != ExecutionFailed || s.Status != StepFailed || !strings.Contains(s.FailureReason, "Evaluating the conditions failed") {
		t.Fatalf("execution %s (%s), step %+v", x.Status, x.FailureReason, s)
	}
}

func TestEngineExpressionForms(t *testing.T) {
	h := newHarness(t)
	h.put("s3://bucket/config.json", `{"limits":{"rounds":[7,8]}}`)
	params := []map[string]any{{"Name": "Input", "Type": "String", "DefaultValue": "s3://bucket/in"}}
	a := processingStep("A", "out")
	a["Arguments"].(map[string]any)["Environment"] = map[string]any{
		"PARAM":     get("Parameters.Input"),
		"EXEC_ID":   get("Execution.PipelineExecutionId"),
		"PIPELINE":  get("Execution.PipelineName"),
		"JOB":       get("Execution.ProcessingJobName"),
		"JOINED":    map[string]any{"Std:Join": map[string]any{"On": "/", "Values": []any{get("Parameters.Input"), "x", 3}}},
		"FROM_JSON": map[string]any{"Std:JsonGet": map[string]any{"S3Uri": "s3://bucket/config.json", "Path": "limits.rounds[1]"}},
		"TRIAL":     get("PipelineExperimentConfig.TrialName"),
	}
	b := processingStep("B")
	b["Arguments"].(map[string]any)["Environment"] = map[string]any{
		"UPSTREAM_OUT":    get("Steps.A.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"),
		"UPSTREAM_STATUS": get("Steps.A.ProcessingJobStatus"),
		"UPSTREAM_ENV":    get("Steps.A.Environment['PARAM']"),
	}
	def := definition(params, a, b)
	var m map[string]any
	json.Unmarshal([]byte(def), &m)
	m["PipelineExperimentConfig"] = map[string]any{"ExperimentName": get("Execution.PipelineName"), "TrialName": get("Execution.PipelineExecutionId")}
	raw, _ := json.Marshal(m)
	h.createPipeline("Exprs", string(raw))
	x := h.wait(h.start("Exprs", ParameterValue{Name: "Input", Value: "s3://bucket/given"}).ARN, ExecutionSucceeded, ExecutionFailed)
	if x.Status != ExecutionSucceeded {
		t.Fatalf("execution %s: %s\n%s", x.Status, x.FailureReason, h.describeSteps(x.ARN))
	}
	if x.Experiment["ExperimentName"] != "Exprs" || x.Experiment["TrialName"] != x.ID {
		t.Errorf("experiment = %v", x.Experiment)
	}
	created := h.jobs.created()
	envA, envB := created[0].proc.Environment, created[1].proc.Environment
	want := map[string]string{
		"PARAM": "s3://bucket/given", "EXEC_ID": x.ID, "PIPELINE": "Exprs", "JOB": created[0].name,
		"JOINED": "s3://bucket/given/x/3", "FROM_JSON": "8", "TRIAL": x.ID,
	}
	for k, v := range want {
		if envA[k] != v {
			t.Errorf("A's %s = %q, want %q", k, envA[k], v)
		}
	}
	wantB := map[string]string{
		"UPSTREAM_OUT":    fmt.Sprintf("s3://%s/Exprs/%s/A/output/out", DefaultBucket, x.ID),
		"UPSTREAM_STATUS": "Completed",
		"UPSTREAM_ENV":    "s3://bucket/given",
	}
	for k, v := range wantB {
		if envB[k] != v {
			t.Errorf("B's %s = %q, want %q", k, envB[k], v)
		}
	}
	params2, err := h.eng.ExecutionParameters(context.Background(), x.ARN)
	if err != nil || len(params2) != 1 || params2[0] != (ParameterValue{Name: "Input", Value: "s3://bucket/given"}) {
		t.Errorf("ExecutionParameters = %v, %v", params2, err)
	}
}

func TestEngineMissingPropertyFileFailsTheReadingStep(t *testing.T) {
	h := newHarness(t) // no job writes the report
	eval := processingStep("Eval", "evaluation")
	eval["PropertyFiles"] = []any{map[string]any{"PropertyFileName": "Report", "OutputName": "evaluation", "FilePath": "evaluation.json"}}
	cond := map[string]any{"Name": "Check", "Type": "Condition", "Arguments": map[string]any{"Conditions": []any{map[string]any{
		"Type": "GreaterThan", "LeftValue": map[string]any{"Std:JsonGet": map[string]any{"PropertyFile": get("Steps.Eval.PropertyFiles.Report"), "Path": "a"}},
		"RightValue": 1}}}}
	h.createPipeline("NoReport", definition(nil, eval, cond))
	x := h.wait(h.start("NoReport").ARN, ExecutionSucceeded, ExecutionFailed)
	steps := h.steps(x.ARN)
	if steps["Eval"].Status != StepSucceeded {
		t.Errorf("Eval: %+v", steps["Eval"])
	}
	if s := steps["Check"]; s.Status != StepFailed || !strings.Contains(s.FailureReason, "could not be read") {
		t.Errorf("Check: %+v", s)
	}
	if x.Status != ExecutionFailed || !strings.Contains(x.FailureReason, "Check") {
		t.Errorf("execution %s: %s", x.Status, x.FailureReason)
	}
}

func TestEngineRetryPolicies(t *testing.T) {
	policy := []any{map[string]any{"ExceptionType": []any{"SageMaker.JOB_INTERNAL_ERROR"}, "IntervalSeconds": 0, "BackoffRate": 2.0, "MaxAttempts": 2}}
	tests := []struct {
		name         string
		failures     []string // reasons of the first attempts; later attempts succeed
		wantStatus   string
		wantAttempts int
		wantJobs     int
	}{
		{"internal error retried until success", []string{"InternalServerError: node lost", "InternalServerError: node lost"}, StepSucceeded, 3, 3},
		{"attempts exhausted", []string{"InternalServerError: a", "InternalServerError: b", "InternalServerError: c"}, StepFailed, 3, 3},
		{"algorithm error not retried", []string{"AlgorithmError: exit code 1"}, StepFailed, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			n := 0
			h.jobs.script = func(j *fakeJob) (string, string) {
				n++
				if n <= len(tc.failures) {
					return jobs.StatusFailed, tc.failures[n-1]
				}
				return jobs.StatusCompleted, ""
			}
			h.createPipeline("Retry", definition(nil, with(processingStep("Flaky"), "RetryPolicies", policy)))
			x := h.wait(h.start("Retry").ARN, ExecutionSucceeded, ExecutionFailed)
			s := h.steps(x.ARN)["Flaky"]
			if s.Status != tc.wantStatus || s.AttemptCount != tc.wantAttempts || len(h.jobs.created()) != tc.wantJobs {
				t.Fatalf("step %s after %d attempts and %d jobs (%s), want %s after %d and %d", s.Status, s.AttemptCount, len(h.jobs.created()), s.FailureReason, tc.wantStatus, tc.wantAttempts, tc.wantJobs)
			}
			names := map[string]bool{}
			for _, j := range h.jobs.created() {
				names[j.name] = true
			}
			if len(names) != tc.wantJobs {
				t.Errorf("attempts reused job names: %v", names)
			}
		})
	}
}

func TestEngineRetryWaitsTheInterval(t *testing.T) {
	h := newHarness(t)
	n := 0
	var times []time.Time
	h.jobs.script = func(j *fakeJob) (string, string) {
		n++
		times = append(times, time.Now())
		if n == 1 {
			return jobs.StatusFailed, "InternalServerError: try again"
		}
		return jobs.StatusCompleted, ""
	}
	policy := []any{map[string]any{"ExceptionType": []any{"SageMaker.JOB_INTERNAL_ERROR"}, "IntervalSeconds": 1, "MaxAttempts": 1}}
	h.createPipeline("Wait", definition(nil, with(processingStep("Flaky"), "RetryPolicies", policy)))
	x := h.start("Wait")
	s := h.waitStep(x.ARN, "Flaky", StepExecuting)
	for s.AttemptCount != 2 {
		s = h.steps(x.ARN)["Flaky"]
		time.Sleep(5 * time.Millisecond)
	}
	if s.RetryAt.IsZero() {
		t.Errorf("a step waiting to retry shows no retry time: %+v", s)
	}
	h.wait(x.ARN, ExecutionSucceeded)
	if gap := times[1].Sub(times[0]); gap < 900*time.Millisecond {
		t.Errorf("second attempt started %s after the first; the policy asks for 1 s", gap)
	}
}

func TestEngineStepServiceFaultIsRetried(t *testing.T) {
	h := newHarness(t)
	h.jobs.createFaults = 2
	policy := []any{map[string]any{"ExceptionType": []any{"Step.SERVICE_FAULT"}, "IntervalSeconds": 0, "MaxAttempts": 3}}
	h.createPipeline("Fault", definition(nil, with(processingStep("A"), "RetryPolicies", policy), processingStep("NoPolicy")))
	x := h.wait(h.start("Fault").ARN, ExecutionSucceeded, ExecutionFailed)
	steps := h.steps(x.ARN)
	// Steps start in definition order: A meets both faults unless NoPolicy met one first.
	a, np := steps["A"], steps["NoPolicy"]
	if a.Status != StepSucceeded || a.AttemptCount < 2 {
		t.Errorf("A: %+v", a)
	}
	if np.Status == StepFailed && !strings.Contains(np.FailureReason, "database is locked") {
		t.Errorf("NoPolicy: %+v", np)
	}
	if np.Status == StepSucceeded && a.AttemptCount != 3 {
		t.Errorf("A met %d attempts; both faults should have hit it", a.AttemptCount)
	}
}

func TestEngineCacheHitAndExpiry(t *testing.T) {
	h := newHarness(t)
	h.put("s3://bucket/code/prep.py", "print('v1')")
	prep := processingStep("Prep", "out")
	prep["Arguments"].(map[string]any)["ProcessingInputs"] = []any{map[string]any{"InputName": "code",
		"S3Input": map[string]any{"S3Uri": "s3://bucket/code/prep.py", "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix"}}}
	prep["CacheConfig"] = map[string]any{"Enabled": true, "ExpireAfter": "PT1H"}
	use := processingStep("Use")
	use["Arguments"].(map[string]any)["Environment"] = map[string]any{"IN": get("Steps.Prep.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri")}
	h.createPipeline("Cached", definition(nil, prep, use))

	first := h.wait(h.start("Cached").ARN, ExecutionSucceeded)
	second := h.wait(h.start("Cached").ARN, ExecutionSucceeded)
	s1, s2 := h.steps(first.ARN)["Prep"], h.steps(second.ARN)["Prep"]
	if s1.CacheSource != "" || s2.CacheSource != first.ARN {
		t.Fatalf("cache sources: first %q, second %q (want %s)", s1.CacheSource, s2.CacheSource, first.ARN)
	}
	if string(s2.Metadata) != string(s1.Metadata) {
		t.Errorf("a cache hit reports the source's job: %s vs %s", s2.Metadata, s1.Metadata)
	}
	// Two executions, three jobs: the second Prep reused the first's outputs, and Use read them.
	created := h.jobs.created()
	if len(created) != 3 {
		t.Fatalf("%d jobs created, want 3", len(created))
	}
	want := fmt.Sprintf("s3://%s/Cached/%s/Prep/output/out", DefaultBucket, first.ID)
	if got := created[2].proc.Environment["IN"]; got != want {
		t.Errorf("the step after a cache hit read %s, want the cached output %s", got, want)
	}

	// Editing the code input in place changes the key.
	h.put("s3://bucket/code/prep.py", "print('v2')")
	third := h.wait(h.start("Cached").ARN, ExecutionSucceeded)
	if s := h.steps(third.ARN)["Prep"]; s.CacheSource != "" {
		t.Errorf("a changed code input still hit the cache of %s", s.CacheSource)
	}
	// After ExpireAfter, the run is not reused.
	h.clock.Advance(2 * time.Hour)
	fourth := h.wait(h.start("Cached").ARN, ExecutionSucceeded)
	if s := h.steps(fourth.ARN)["Prep"]; s.CacheSource != "" {
		t.Errorf("an expired run was reused: %s", s.CacheSource)
	}
	// Within the window again, the newest run wins.
	fifth := h.wait(h.start("Cached").ARN, ExecutionSucceeded)
	if s := h.steps(fifth.ARN)["Prep"]; s.CacheSource != fourth.ARN {
		t.Errorf("cache source = %q, want the newest run %s", s.CacheSource, fourth.ARN)
	}
}

func TestEngineStopExecution(t *testing.T) {
	h := newHarness(t)
	h.jobs.script = func(j *fakeJob) (string, string) { return "", "" } // run until stopped
	h.createPipeline("Long", definition(nil, processingStep("A"), processingStep("B"), with(processingStep("After"), "DependsOn", []any{"A"})))
	x := h.start("Long")
	h.waitStep(x.ARN, "A", StepExecuting)
	h.waitStep(x.ARN, "B", StepExecuting)
	got, err := h.eng.StopExecution(context.Background(), registry.Actor{}, x.ARN)
	if err != nil || (got.Status != ExecutionStopping && got.Status != ExecutionStopped) {
		t.Fatalf("StopExecution: %+v, %v", got, err)
	}
	x = h.wait(x.ARN, ExecutionStopped)
	steps := h.steps(x.ARN)
	if steps["A"].Status != StepStopped || steps["B"].Status != StepStopped {
		t.Errorf("steps after stop:\n%s", h.describeSteps(x.ARN))
	}
	if _, ran := steps["After"]; ran {
		t.Errorf("a step started after the stop")
	}
	for _, j := range h.jobs.created() {
		if j.status != jobs.StatusStopped {
			t.Errorf("job %s is %s", j.name, j.status)
		}
	}
	// Stopping again is fine; stopping a finished execution is a conflict.
	if _, err := h.eng.StopExecution(context.Background(), registry.Actor{}, x.ARN); err != nil {
		t.Errorf("second stop: %v", err)
	}
	h.jobs.script = nil
	h.createPipeline("Short", definition(nil, processingStep("A")))
	done := h.wait(h.start("Short").ARN, ExecutionSucceeded)
	if _, err := h.eng.StopExecution(context.Background(), registry.Actor{}, done.ARN); !errors.Is(err, ErrConflict) {
		t.Errorf("stopping a Succeeded execution: %v, want ErrConflict", err)
	}
}

func TestEngineRetryAfterFailure(t *testing.T) {
	h := newHarness(t)
	fail := true
	h.jobs.script = func(j *fakeJob) (string, string) {
		if strings.Contains(j.name, "-b-") && fail {
			return jobs.StatusFailed, "AlgorithmError: bad input"
		}
		return jobs.StatusCompleted, ""
	}
	h.createPipeline("Retryable", definition(nil, processingStep("A"), with(processingStep("B"), "DependsOn", []any{"A"}), with(processingStep("C"), "DependsOn", []any{"B"})))
	x := h.wait(h.start("Retryable").ARN, ExecutionFailed)
	if !strings.Contains(x.FailureReason, "B: AlgorithmError: bad input") {
		t.Errorf("failure reason %q", x.FailureReason)
	}
	if _, ran := h.steps(x.ARN)["C"]; ran {
		t.Fatal("a step after the failed one ran")
	}
	if _, err := h.eng.RetryExecution(context.Background(), registry.Actor{}, h.start("Retryable").ARN, nil); err == nil {
		// the new execution may still be Executing; either way it is not retryable yet
	}
	fail = false
	r, err := h.eng.RetryExecution(context.Background(), registry.Actor{}, x.ARN, nil)
	if err != nil || r.ARN != x.ARN {
		t.Fatalf("RetryExecution: %+v, %v", r, err)
	}
	x = h.wait(x.ARN, ExecutionSucceeded, ExecutionFailed)
	steps := h.steps(x.ARN)
	if x.Status != ExecutionSucceeded || x.FailureReason != "" {
		t.Fatalf("after retry: %s %q\n%s", x.Status, x.FailureReason, h.describeSteps(x.ARN))
	}
	if steps["A"].AttemptCount != 1 || steps["B"].AttemptCount != 2 || steps["C"].Status != StepSucceeded {
		t.Errorf("steps after retry:\n%s", h.describeSteps(x.ARN))
	}
	aJobs := 0
	for _, j := range h.jobs.created() {
		if strings.Contains(j.name, x.ID+"-a-") {
			aJobs++
		}
	}
	if aJobs != 1 {
		t.Errorf("the step that had succeeded ran %d times", aJobs)
	}
	if _, err := h.eng.RetryExecution(context.Background(), registry.Actor{}, x.ARN, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("retrying a Succeeded execution: %v, want ErrConflict", err)
	}
}

func callbackDefinition() string {
	cb := map[string]any{"Name": "Approve", "Type": "Callback", "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/q",
		"OutputParameters": []any{map[string]any{"OutputName": "approved", "OutputType": "Boolean"}, map[string]any{"OutputName": "note", "OutputType": "String"}},
		"Arguments":        map[string]any{"model": get("Execution.PipelineExecutionId")}}
	cond := map[string]any{"Name": "IsApproved", "Type": "Condition", "Arguments": map[string]any{
		"Conditions": []any{map[string]any{"Type": "Equals", "LeftValue": get("Steps.Approve.OutputParameters['approved']"), "RightValue": true}},
		"IfSteps":    []any{processingStep("Deploy")}, "ElseSteps": []any{}}}
	return definition(nil, cb, cond)
}

func callbackToken_(t *testing.T, h *harness, arn string) string {
	t.Helper()
	s := h.waitStep(arn, "Approve", StepExecuting)
	tok, _ := metadata(t, s)["Callback"]["CallbackToken"].(string)
	if len(tok) != 10 {
		t.Fatalf("callback token %q", tok)
	}
	if q := metadata(t, s)["Callback"]["SqsQueueUrl"]; q != "https://sqs.us-east-1.amazonaws.com/000000000000/q" {
		t.Errorf("SqsQueueUrl = %v", q)
	}
	return tok
}

func TestEngineCallbackSuccess(t *testing.T) {
	h := newHarness(t)
	h.createPipeline("Gate", callbackDefinition())
	x := h.start("Gate")
	tok := callbackToken_(t, h, x.ARN)
	// The token is announced with the resolved arguments, as the SQS message would carry them.
	evs, _ := h.st.EventsAfter(context.Background(), 0, 1000)
	announced := false
	for _, ev := range evs {
		if ev.DetailType == EventStepStatusChange && strings.Contains(string(ev.Detail), tok) && strings.Contains(string(ev.Detail), `"model":"`+x.ID+`"`) {
			announced = true
		}
	}
	if !announced {
		t.Error("no step event carries the callback token and arguments")
	}
	if _, err := h.eng.SendStepSuccess(context.Background(), tok, []ParameterValue{{Name: "undeclared", Value: "x"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("undeclared output: %v, want ErrInvalid", err)
	}
	if _, err := h.eng.SendStepSuccess(context.Background(), tok, []ParameterValue{{Name: "approved", Value: "maybe"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("output of the wrong type: %v, want ErrInvalid", err)
	}
	arn, err := h.eng.SendStepSuccess(context.Background(), tok, []ParameterValue{{Name: "approved", Value: "true"}, {Name: "note", Value: "ok"}})
	if err != nil || arn != x.ARN {
		t.Fatalf("SendStepSuccess: %s, %v", arn, err)
	}
	x = h.wait(x.ARN, ExecutionSucceeded, ExecutionFailed)
	steps := h.steps(x.ARN)
	if x.Status != ExecutionSucceeded || steps["Deploy"].Status != StepSucceeded {
		t.Fatalf("execution %s\n%s", x.Status, h.describeSteps(x.ARN))
	}
	outs, _ := metadata(t, steps["Approve"])["Callback"]["OutputParameters"].([]any)
	if len(outs) != 2 {
		t.Errorf("callback metadata outputs: %v", outs)
	}
	if _, err := h.eng.SendStepSuccess(context.Background(), tok, nil); err != nil {
		t.Errorf("answering again the same way: %v", err)
	}
	if _, err := h.eng.SendStepFailure(context.Background(), tok, "no"); !errors.Is(err, ErrConflict) {
		t.Errorf("answering again differently: %v, want ErrConflict", err)
	}
	if _, err := h.eng.SendStepSuccess(context.Background(), "nosuchtokn", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
}

func TestEngineCallbackFailure(t *testing.T) {
	h := newHarness(t)
	h.createPipeline("Gate", callbackDefinition())
	x := h.start("Gate")
	tok := callbackToken_(t, h, x.ARN)
	if _, err := h.eng.SendStepFailure(context.Background(), tok, "rejected by reviewer"); err != nil {
		t.Fatal(err)
	}
	x = h.wait(x.ARN, ExecutionSucceeded, ExecutionFailed)
	s := h.steps(x.ARN)["Approve"]
	if x.Status != ExecutionFailed || s.Status != StepFailed || s.FailureReason != "rejected by reviewer" || !strings.Contains(x.FailureReason, "rejected by reviewer") {
		t.Fatalf("execution %s (%s), step %+v", x.Status, x.FailureReason, s)
	}
}

func TestEngineStopWaitsForTheCallbackAnswer(t *testing.T) {
	h := newHarness(t)
	h.createPipeline("Gate", callbackDefinition())
	x := h.start("Gate")
	tok := callbackToken_(t, h, x.ARN)
	if _, err := h.eng.StopExecution(context.Background(), registry.Actor{}, x.ARN); err != nil {
		t.Fatal(err)
	}
	h.waitStep(x.ARN, "Approve", StepStopping)
	if got := h.wait(x.ARN, ExecutionStopping); got.Status != ExecutionStopping {
		t.Fatal(got.Status)
	}
	if _, err := h.eng.SendStepFailure(context.Background(), tok, "stopped"); err != nil {
		t.Fatal(err)
	}
	h.wait(x.ARN, ExecutionStopped)
	if _, ran := h.steps(x.ARN)["Deploy"]; ran {
		t.Error("a step started after the stop")
	}
}

func TestEngineParallelismLimit(t *testing.T) {
	h := newHarness(t)
	var steps []map[string]any
	for i := range 12 {
		steps = append(steps, processingStep(fmt.Sprintf("S%02d", i)))
	}
	h.jobs.script = func(j *fakeJob) (string, string) {
		go func() { time.Sleep(20 * time.Millisecond); h.jobs.finish(j.name, jobs.StatusCompleted, "") }()
		return "", ""
	}
	_, err := h.eng.CreatePipeline(context.Background(), registry.Actor{}, NewPipeline{Name: "Wide", Definition: definition(nil, steps...),
		Parallelism: &ParallelismConfiguration{MaxParallelExecutionSteps: 5}})
	if err != nil {
		t.Fatal(err)
	}
	x := h.wait(h.start("Wide").ARN, ExecutionSucceeded)
	if h.jobs.maxActive > 5 || h.jobs.maxActive < 2 {
		t.Errorf("at most %d steps ran at once; the pipeline allows 5", h.jobs.maxActive)
	}
	if x.Parallelism == nil || x.Parallelism.MaxParallelExecutionSteps != 5 {
		t.Errorf("execution parallelism = %+v", x.Parallelism)
	}
	// An execution's own setting overrides the pipeline's.
	h.jobs.maxActive = 0
	y, err := h.eng.StartExecution(context.Background(), registry.Actor{}, StartRequest{Pipeline: "Wide", Parallelism: &ParallelismConfiguration{MaxParallelExecutionSteps: 2}})
	if err != nil {
		t.Fatal(err)
	}
	h.wait(y.ARN, ExecutionSucceeded)
	if h.jobs.maxActive > 2 {
		t.Errorf("at most %d steps ran at once; the execution allows 2", h.jobs.maxActive)
	}
}

func TestEngineResumeAfterRestart(t *testing.T) {
	h := newHarness(t)
	hold := true
	h.jobs.script = func(j *fakeJob) (string, string) {
		if hold && strings.Contains(j.name, "-b-") {
			return "", "" // still running when the server stops
		}
		return jobs.StatusCompleted, ""
	}
	h.createPipeline("Durable", definition(nil, processingStep("A"), with(processingStep("B"), "DependsOn", []any{"A"}), with(processingStep("C"), "DependsOn", []any{"B"})))
	x := h.start("Durable")
	h.waitStep(x.ARN, "B", StepExecuting)
	h.stopEngine()

	// While the server is down, the job finishes.
	hold = false
	var b *fakeJob
	for _, j := range h.jobs.created() {
		if strings.Contains(j.name, "-b-") {
			b = j
		}
	}
	h.jobs.finish(b.name, jobs.StatusCompleted, "")

	h.startEngine()
	x = h.wait(x.ARN, ExecutionSucceeded, ExecutionFailed)
	if x.Status != ExecutionSucceeded {
		t.Fatalf("after restart: %s %s\n%s", x.Status, x.FailureReason, h.describeSteps(x.ARN))
	}
	if n := len(h.jobs.created()); n != 3 {
		t.Errorf("%d jobs for 3 steps: a finished step ran again", n)
	}
	for name, s := range h.steps(x.ARN) {
		if s.AttemptCount != 1 {
			t.Errorf("step %s has %d attempts", name, s.AttemptCount)
		}
	}
}

func TestEngineResumeReattachesToAJobCreatedBeforeTheCrash(t *testing.T) {
	h := newHarness(t)
	h.createPipeline("Crash", definition(nil, processingStep("A")))
	h.stopEngine() // the execution is stored but nobody runs it yet
	x := h.start("Crash")
	// Simulate a crash after the step's row and its job were written, before the step was
	// marked Executing: write the row as the driver does, and create the job.
	xr, _ := h.st.PipelineExecution(context.Background(), x.ARN)
	now := time.Now()
	row := &store.PipelineStep{ExecutionID: xr.ID, PipelineID: xr.PipelineID, Name: "A", Type: "Processing", Status: StepStarting,
		Attempt: 1, FirstStartedAt: now, StartedAt: now, UpdatedAt: now}
	if err := h.st.InTx(context.Background(), func(tx *store.Tx) error { return tx.InsertPipelineStep(context.Background(), row) }); err != nil {
		t.Fatal(err)
	}
	name := resourceName(x.ID, "A", 1)
	h.jobs.script = func(j *fakeJob) (string, string) { return "", "" }
	h.jobs.CreateProcessingJob(context.Background(), &jobs.ProcessingJobSpec{ProcessingJobName: name})
	h.jobs.script = nil

	h.startEngine()
	h.waitStep(x.ARN, "A", StepExecuting)
	h.jobs.finish(name, jobs.StatusCompleted, "")
	x = h.wait(x.ARN, ExecutionSucceeded, ExecutionFailed)
	if x.Status != ExecutionSucceeded || h.jobs.creates != 1 {
		t.Fatalf("execution %s with %d jobs created, want Succeeded with the one job re-attached", x.Status, h.jobs.creates)
	}
}

func TestEngineEveryStepType(t *testing.T) {
	h := newHarness(t)
	steps := []map[string]any{
		processingStep("Proc", "out"),
		trainingStep("Train", get("Steps.Proc.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri")),
		{"Name": "Model", "Type": "Model", "Arguments": map[string]any{"ExecutionRoleArn": "arn:aws:iam::000000000000:role/Pipe",
			"PrimaryContainer": map[string]any{"Image": "sluice/xgboost", "ModelDataUrl": get("Steps.Train.ModelArtifacts.S3ModelArtifacts")}}},
		{"Name": "Register", "Type": "RegisterModel", "Arguments": map[string]any{"ModelPackageGroupName": "Group", "ModelApprovalStatus": "Approved",
			"InferenceSpecification": map[string]any{"Containers": []any{map[string]any{"Image": "sluice/xgboost", "ModelDataUrl": get("Steps.Train.ModelArtifacts.S3ModelArtifacts")}},
				"SupportedContentTypes": []any{"text/csv"}, "SupportedResponseMIMETypes": []any{"text/csv"}}}},
		{"Name": "Check", "Type": "Condition", "Arguments": map[string]any{
			"Conditions": []any{map[string]any{"Type": "Equals", "LeftValue": get("Steps.Register.ModelApprovalStatus"), "RightValue": "Approved"}},
			"IfSteps": []any{map[string]any{"Name": "Transform", "Type": "Transform", "Arguments": map[string]any{"ModelName": get("Steps.Model.ModelName"),
				"TransformInput":     map[string]any{"DataSource": map[string]any{"S3DataSource": map[string]any{"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/batch"}}},
				"TransformOutput":    map[string]any{"S3OutputPath": "s3://bucket/out"},
				"TransformResources": map[string]any{"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}}}},
			"ElseSteps": []any{map[string]any{"Name": "Stop", "Type": "Fail", "Arguments": map[string]any{"ErrorMessage": "not approved"}}}}},
	}
	h.createPipeline("All", definition(nil, steps...))
	x := h.wait(h.start("All").ARN, ExecutionSucceeded, ExecutionFailed)
	got := h.steps(x.ARN)
	checks := []struct {
		step, status, metaKey string
	}{
		{"Proc", StepSucceeded, "ProcessingJob"},
		{"Train", StepSucceeded, "TrainingJob"},
		{"Model", StepSucceeded, "Model"},
		{"Register", StepSucceeded, "RegisterModel"},
		{"Check", StepSucceeded, "Condition"},
		{"Transform", StepFailed, ""},
	}
	for _, c := range checks {
		s := got[c.step]
		if s.Status != c.status {
			t.Errorf("%s: %s (%s), want %s", c.step, s.Status, s.FailureReason, c.status)
			continue
		}
		if c.metaKey != "" {
			if _, ok := metadata(t, s)[c.metaKey]; !ok {
				t.Errorf("%s: metadata %s has no %s", c.step, s.Metadata, c.metaKey)
			}
		}
	}
	if !strings.Contains(got["Transform"].FailureReason, "batch transform") {
		t.Errorf("Transform: %q", got["Transform"].FailureReason)
	}
	if x.Status != ExecutionFailed {
		t.Errorf("execution %s", x.Status)
	}
}

func TestEngineStartRejectsBadParameters(t *testing.T) {
	h := newHarness(t)
	params := []map[string]any{{"Name": "N", "Type": "Integer", "DefaultValue": 1}, {"Name": "Env", "Type": "String", "EnumValues": []any{"dev", "prod"}, "DefaultValue": "dev"}}
	h.createPipeline("Params", definition(params, processingStep("A")))
	tests := []struct {
		name   string
		params []ParameterValue
		want   string
	}{
		{"unknown", []ParameterValue{{Name: "Nope", Value: "1"}}, "not declared"},
		{"wrong type", []ParameterValue{{Name: "N", Value: "one"}}, `"N"`},
		{"not in enum", []ParameterValue{{Name: "Env", Value: "qa"}}, "not one of"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.eng.StartExecution(context.Background(), registry.Actor{}, StartRequest{Pipeline: "Params", Parameters: tc.params})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
	if page, _ := h.eng.ListExecutions(context.Background(), ExecutionQuery{Pipeline: "Params"}); len(page.Executions) != 0 {
		t.Errorf("a refused start stored an execution")
	}
}

func TestEngineStartIsIdempotentWithAClientToken(t *testing.T) {
	h := newHarness(t)
	h.createPipeline("Once", definition(nil, processingStep("A")))
	req := StartRequest{Pipeline: "Once", ClientToken: "token-123"}
	a, err := h.eng.StartExecution(context.Background(), registry.Actor{}, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.eng.StartExecution(context.Background(), registry.Actor{}, req)
	if err != nil || b.ARN != a.ARN {
		t.Fatalf("second start with the same token: %s, %v (first %s)", b.ARN, err, a.ARN)
	}
	h.wait(a.ARN, ExecutionSucceeded)
	if n := len(h.jobs.created()); n != 1 {
		t.Errorf("%d jobs", n)
	}
}

func TestEngineResourceNames(t *testing.T) {
	tests := []struct{ step string }{{"Prep"}, {"a_b__c"}, {strings.Repeat("LongStepName", 6)}, {"___"}}
	for _, tc := range tests {
		n := resourceName("abcdefghijkl", tc.step, 3)
		if len(n) > 63 || !strings.HasPrefix(n, "pipelines-abcdefghijkl-") || !validJobName(n) {
			t.Errorf("resourceName(%q) = %q", tc.step, n)
		}
		if n != resourceName("abcdefghijkl", tc.step, 3) || n == resourceName("abcdefghijkl", tc.step, 4) {
			t.Errorf("resourceName(%q) is not stable per attempt and distinct across attempts", tc.step)
		}
	}
}

func validJobName(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// TestEngineOnPostgres runs the abalone-shaped pipeline, a callback and a restart on
// PostgreSQL (gated by SLUICE_TEST_POSTGRES).
func TestEngineOnPostgres(t *testing.T) {
	h := newHarnessOn(t, storetest.Postgres(t))
	h.createPipeline("Abalone", abaloneShaped())
	h.writeEvaluation(4.2)
	x := h.wait(h.start("Abalone").ARN, ExecutionSucceeded, ExecutionFailed)
	if x.Status != ExecutionSucceeded {
		t.Fatalf("execution %s: %s\n%s", x.Status, x.FailureReason, h.describeSteps(x.ARN))
	}
	h.createPipeline("Gate", callbackDefinition())
	g := h.start("Gate")
	tok := callbackToken_(t, h, g.ARN)
	h.stopEngine()
	h.startEngine()
	if _, err := h.eng.SendStepSuccess(context.Background(), tok, []ParameterValue{{Name: "approved", Value: "true"}}); err != nil {
		t.Fatal(err)
	}
	if g = h.wait(g.ARN, ExecutionSucceeded, ExecutionFailed); g.Status != ExecutionSucceeded {
		t.Fatalf("callback execution after a restart: %s %s", g.Status, g.FailureReason)
	}
}
