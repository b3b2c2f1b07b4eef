package pipeline

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// testEnv is an Env over fixed step properties and property files, as the engine would build
// from finished steps.
func testEnv(t *testing.T) Env {
	t.Helper()
	props := map[string]any{
		"Train": describeTraining(t),
		"Prep": mustJSON(t, `{"ProcessingOutputConfig": {"Outputs": [
			{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/exec-1/train"}},
			{"OutputName": "test", "S3Output": {"S3Uri": "s3://b/exec-1/test"}}]}}`),
		"Gate":     ConditionProperties(true),
		"Approval": map[string]any{"OutputParameters": map[string]any{"approved": true, "score": 0.93}},
	}
	files := map[[2]string]any{
		{"Eval", "EvaluationReport"}: mustJSON(t, `{"regression_metrics": {"mse": {"value": 4.2}}, "rows": [{"count": 12}], "label": "ok"}`),
	}
	objects := map[string]any{
		"s3://b/exec-1/summary.json": mustJSON(t, `{"rows": 1000}`),
	}
	return Env{
		Parameters: map[string]any{"Count": int64(3), "Threshold": 6.0, "Flag": true, "Env": "dev", "Bucket": "b"},
		Execution:  map[string]any{"PipelineExecutionId": "exec-1", "PipelineName": "P"},
		Experiment: map[string]any{"ExperimentName": "P", "TrialName": "exec-1"},
		StepProperties: func(step string) (any, error) {
			p, ok := props[step]
			if !ok {
				return nil, errors.New("step has not run")
			}
			return p, nil
		},
		PropertyFile: func(step, file string) (any, error) {
			f, ok := files[[2]string{step, file}]
			if !ok {
				return nil, errors.New("no such property file")
			}
			return f, nil
		},
		ReadJSON: func(uri string) (any, error) {
			o, ok := objects[uri]
			if !ok {
				return nil, errors.New("no such object")
			}
			return o, nil
		},
	}
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

func TestEvaluateExpressions(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		name    string
		expr    string
		want    any
		wantErr string
	}{
		{name: "integer parameter keeps its type", expr: `{"Get": "Parameters.Count"}`, want: int64(3)},
		{name: "float parameter keeps its type", expr: `{"Get": "Parameters.Threshold"}`, want: 6.0},
		{name: "boolean parameter keeps its type", expr: `{"Get": "Parameters.Flag"}`, want: true},
		{name: "string parameter", expr: `{"Get": "Parameters.Env"}`, want: "dev"},
		{name: "unbound parameter", expr: `{"Get": "Parameters.Nope"}`, wantErr: "Get Parameters.Nope: parameter has no value"},
		{name: "execution variable", expr: `{"Get": "Execution.PipelineExecutionId"}`, want: "exec-1"},
		{name: "execution variable not set", expr: `{"Get": "Execution.TrainingJobName"}`, wantErr: "not available here"},
		{name: "experiment", expr: `{"Get": "PipelineExperimentConfig.TrialName"}`, want: "exec-1"},
		{name: "step property", expr: `{"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}`, want: "s3://b/model.tar.gz"},
		{name: "output by name", expr: `{"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"}`, want: "s3://b/exec-1/test"},
		{name: "output by index", expr: `{"Get": "Steps.Prep.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri"}`, want: "s3://b/exec-1/train"},
		{name: "metric by name", expr: `{"Get": "Steps.Train.FinalMetricDataList['validation:rmse'].Value"}`, want: json.Number("2.25")},
		{name: "condition outcome", expr: `{"Get": "Steps.Gate.Outcome"}`, want: true},
		{name: "callback output", expr: `{"Get": "Steps.Approval.OutputParameters['score']"}`, want: 0.93},
		{name: "step not run", expr: `{"Get": "Steps.Later.ModelName"}`, wantErr: "Get Steps.Later.ModelName: step has not run"},
		{name: "missing output", expr: `{"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['x'].S3Output.S3Uri"}`,
			wantErr: `step "Prep": ProcessingOutputConfig.Outputs['x']: no element named "x" (have "train", "test")`},
		{name: "join stringifies", expr: `{"Std:Join": {"On": "/", "Values": ["s3:/", {"Get": "Parameters.Bucket"}, {"Get": "Execution.PipelineExecutionId"}, {"Get": "Parameters.Count"}]}}`,
			want: "s3://b/exec-1/3"},
		{name: "join float and bool", expr: `{"Std:Join": {"On": " ", "Values": ["MSE >", {"Get": "Parameters.Threshold"}, {"Get": "Parameters.Flag"}, 2.50, 7]}}`,
			want: "MSE > 6.0 true 2.50 7"},
		{name: "join without On", expr: `{"Std:Join": {"Values": ["a", "b"]}}`, want: "ab"},
		{name: "join of join", expr: `{"Std:Join": {"On": "-", "Values": [{"Std:Join": {"On": "+", "Values": ["a", "b"]}}, "c"]}}`, want: "a+b-c"},
		{name: "join of null", expr: `{"Std:Join": {"On": "-", "Values": [null]}}`, wantErr: "Std:Join.Values[0]: cannot format a null value"},
		{name: "jsonget keeps number", expr: `{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvaluationReport"}, "Path": "regression_metrics.mse.value"}}`,
			want: json.Number("4.2")},
		{name: "jsonget index and key", expr: `{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvaluationReport"}, "Path": "rows[0]['count']"}}`,
			want: json.Number("12")},
		{name: "jsonget missing path", expr: `{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvaluationReport"}, "Path": "regression_metrics.rmse"}}`,
			wantErr: "regression_metrics.rmse: no such member"},
		{name: "jsonget missing file", expr: `{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.Other"}, "Path": "a"}}`,
			wantErr: "no such property file"},
		{name: "jsonget s3 uri", expr: `{"Std:JsonGet": {"S3Uri": {"Std:Join": {"On": "/", "Values": ["s3://b", {"Get": "Execution.PipelineExecutionId"}, "summary.json"]}}, "Path": "rows"}}`,
			want: json.Number("1000")},
		{name: "jsonget unresolved bare name", expr: `{"Std:JsonGet": {"PropertyFile": "EvaluationReport", "Path": "a"}}`, wantErr: "was not resolved to a step"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(mustJSON(t, tt.expr), env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseExprShapes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		isExpr  bool
		wantErr string
	}{
		{name: "literal object", in: `{"S3Uri": "s3://b"}`},
		{name: "Get beside other keys is data", in: `{"Get": "Parameters.X", "Other": 1}`},
		{name: "string", in: `"Get"`},
		{name: "get", in: `{"Get": "Parameters.X"}`, isExpr: true},
		{name: "get of a number", in: `{"Get": 1}`, isExpr: true, wantErr: "Get: want a string, got a number"},
		{name: "unknown root", in: `{"Get": "Pipeline.X"}`, isExpr: true, wantErr: `unknown root "Pipeline"`},
		{name: "no path", in: `{"Get": "Parameters"}`, isExpr: true, wantErr: "want Parameters.<Name>"},
		{name: "step without property", in: `{"Get": "Steps.A"}`, isExpr: true, wantErr: "want Steps.<Step>.<Property>"},
		{name: "bad property path", in: `{"Get": "Steps.A.Outputs[x]"}`, isExpr: true, wantErr: "not a non-negative integer"},
		{name: "experiment field", in: `{"Get": "PipelineExperimentConfig.Name"}`, isExpr: true, wantErr: "want PipelineExperimentConfig.ExperimentName"},
		{name: "join values not a list", in: `{"Std:Join": {"On": "/", "Values": "a"}}`, isExpr: true, wantErr: "Std:Join.Values: want a list"},
		{name: "join on not a string", in: `{"Std:Join": {"On": 1, "Values": []}}`, isExpr: true, wantErr: "Std:Join.On: want a string"},
		{name: "jsonget without file", in: `{"Std:JsonGet": {"Path": "a"}}`, isExpr: true, wantErr: "PropertyFile (or S3Uri) is required"},
		{name: "jsonget both sources", in: `{"Std:JsonGet": {"PropertyFile": "F", "S3Uri": "s3://b/x", "Path": "a"}}`, isExpr: true, wantErr: "not both"},
		{name: "jsonget without path", in: `{"Std:JsonGet": {"PropertyFile": "F"}}`, isExpr: true, wantErr: "Std:JsonGet.Path: required"},
		{name: "jsonget file is a step property", in: `{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.A.ModelName"}, "Path": "a"}}`, isExpr: true, wantErr: "is not Steps.<Step>.PropertyFiles.<Name>"},
		{name: "jsonget bare name", in: `{"Std:JsonGet": {"PropertyFile": "EvaluationReport", "Path": "a.b"}}`, isExpr: true},
		{name: "jsonget s3", in: `{"Std:JsonGet": {"S3Uri": {"Get": "Parameters.Uri"}, "Path": "a"}}`, isExpr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, isExpr, err := ParseExpr(mustJSON(t, tt.in))
			if isExpr != tt.isExpr {
				t.Fatalf("isExpr = %v, want %v", isExpr, tt.isExpr)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				if e != nil {
					t.Errorf("a malformed expression came back as %#v", e)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if isExpr && e == nil {
				t.Fatal("no expression returned")
			}
		})
	}
}

func TestParseReferenceRoundTrip(t *testing.T) {
	for _, s := range []string{
		"Parameters.MseThreshold",
		"Execution.PipelineExecutionId",
		"PipelineExperimentConfig.ExperimentName",
		"Steps.PreprocessAbaloneData.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri",
		"Steps.EvaluateAbaloneModel.PropertyFiles.EvaluationReport",
		"Steps.CreateAbaloneModel-CreateModel.ModelName",
	} {
		r, err := ParseReference(s)
		if err != nil {
			t.Fatalf("ParseReference(%q): %v", s, err)
		}
		if r.String() != s {
			t.Errorf("ParseReference(%q).String() = %q", s, r.String())
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"string", "abc", "abc"},
		{"integral float keeps a decimal point", 6.0, "6.0"},
		{"fraction", 0.25, "0.25"},
		{"tiny float", 1e-7, "1e-07"},
		{"huge float", 1e20, "1e+20"},
		{"int64", int64(42), "42"},
		{"int", -3, "-3"},
		{"json number as written", json.Number("6.00"), "6.00"},
		{"true", true, "true"},
		{"object as JSON", map[string]any{"b": 1, "a": "x<y"}, `{"a":"x<y","b":1}`},
		{"list as JSON", []any{"a", json.Number("1")}, `["a",1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FormatValue(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("FormatValue(%#v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if _, err := FormatValue(nil); err == nil {
		t.Error("FormatValue(nil) gave no error")
	}
	if _, err := FormatValue(struct{}{}); err == nil {
		t.Error("FormatValue(struct{}) gave no error")
	}
}

// TestResolveAbaloneTraining resolves the SDK's training step arguments as the engine would
// before calling CreateTrainingJob.
func TestResolveAbaloneTraining(t *testing.T) {
	d := parseFixture(t, "abalone.good.json")
	params, err := d.BindParameters([]ParameterValue{{Name: "TrainingInstanceType", Value: "ml.c5.2xlarge"}})
	if err != nil {
		t.Fatal(err)
	}
	env := Env{
		Parameters: params,
		Execution:  map[string]any{"PipelineExecutionId": "4wemqw2sucgh", "PipelineName": "AbalonePipeline"},
		StepProperties: func(step string) (any, error) {
			if step != "PreprocessAbaloneData" {
				return nil, errors.New("unexpected step " + step)
			}
			return mustJSON(t, `{"ProcessingOutputConfig": {"Outputs": [
				{"OutputName": "train", "S3Output": {"S3Uri": "s3://my-bucket/AbalonePipeline/4wemqw2sucgh/PreprocessAbaloneData/output/train"}},
				{"OutputName": "validation", "S3Output": {"S3Uri": "s3://my-bucket/AbalonePipeline/4wemqw2sucgh/PreprocessAbaloneData/output/validation"}},
				{"OutputName": "test", "S3Output": {"S3Uri": "s3://my-bucket/AbalonePipeline/4wemqw2sucgh/PreprocessAbaloneData/output/test"}}]}}`), nil
		},
	}
	train, _ := d.Step("TrainAbaloneModel")
	before, _ := json.Marshal(train.Arguments)
	got, err := Resolve(train.Arguments, env)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(train.Arguments)
	if string(before) != string(after) {
		t.Error("Resolve changed the definition's arguments")
	}
	checks := map[string]any{
		"ResourceConfig.InstanceType":                            "ml.c5.2xlarge",
		"InputDataConfig[1].DataSource.S3DataSource.S3Uri":       "s3://my-bucket/AbalonePipeline/4wemqw2sucgh/PreprocessAbaloneData/output/validation",
		"InputDataConfig['train'].DataSource.S3DataSource.S3Uri": "s3://my-bucket/AbalonePipeline/4wemqw2sucgh/PreprocessAbaloneData/output/train",
		"StoppingCondition.MaxRuntimeInSeconds":                  json.Number("86400"),
		"HyperParameters['num_round']":                           "50",
		"AlgorithmSpecification.TrainingImage":                   "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
	}
	for path, want := range checks {
		p, err := ParsePropertyPath(path)
		if err != nil {
			t.Fatal(err)
		}
		v, err := p.Lookup(got)
		if err != nil || !reflect.DeepEqual(v, want) {
			t.Errorf("%s = %#v, %v; want %#v", path, v, err, want)
		}
	}

	prep, _ := d.Step("PreprocessAbaloneData")
	resolved, err := Resolve(prep.Arguments, env)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePropertyPath("ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri")
	if v, _ := p.Lookup(resolved); v != "s3://my-bucket/AbalonePipeline/4wemqw2sucgh/PreprocessAbaloneData/output/test" {
		t.Errorf("test output S3Uri = %v", v)
	}
	p, _ = ParsePropertyPath("ProcessingResources.ClusterConfig.InstanceCount")
	if v, _ := p.Lookup(resolved); v != int64(1) {
		t.Errorf("InstanceCount = %#v, want the Integer parameter's int64(1)", v)
	}

	env.StepProperties = func(string) (any, error) { return nil, errors.New("step has not run") }
	_, err = Resolve(train.Arguments, env)
	if err == nil || !strings.HasPrefix(err.Error(), "InputDataConfig[0].DataSource.S3DataSource.S3Uri: Get Steps.PreprocessAbaloneData.") {
		t.Errorf("error = %v, want it to start with the field path", err)
	}
}

func TestBareJSONGetIsRewritten(t *testing.T) {
	d := parseFixture(t, "all-step-types.good.json")
	gate, _ := d.Step("Gate")
	c := gate.Conditions[4]
	e, ok, err := ParseExpr(c.Left)
	if err != nil || !ok {
		t.Fatalf("ParseExpr = %v, %v", ok, err)
	}
	j := e.(*JSONGet)
	if j.File == nil || j.File.Name != "Prep" || j.File.File != "Report" {
		t.Fatalf("bare property file name not resolved to step Prep: %#v", j)
	}
	if !slices.Contains(d.Graph().Upstream("Gate"), "Prep") {
		t.Errorf("Gate does not run after Prep: %v", d.Graph().Upstream("Gate"))
	}
}

func parseFixture(t *testing.T, name string) *Definition {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
