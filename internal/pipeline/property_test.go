package pipeline

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParsePropertyPath(t *testing.T) {
	f := func(n string) PathElem { return PathElem{Kind: ElemField, Name: n} }
	k := func(n string) PathElem { return PathElem{Kind: ElemKey, Name: n} }
	i := func(n int) PathElem { return PathElem{Kind: ElemIndex, Index: n} }
	tests := []struct {
		name    string
		in      string
		want    PropertyPath
		wantErr string
	}{
		{name: "member chain", in: "ModelArtifacts.S3ModelArtifacts", want: PropertyPath{f("ModelArtifacts"), f("S3ModelArtifacts")}},
		{name: "single member", in: "ModelName", want: PropertyPath{f("ModelName")}},
		{name: "list by name", in: "ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri",
			want: PropertyPath{f("ProcessingOutputConfig"), f("Outputs"), k("train"), f("S3Output"), f("S3Uri")}},
		{name: "key with colon", in: "FinalMetricDataList['validation:rmse'].Value",
			want: PropertyPath{f("FinalMetricDataList"), k("validation:rmse"), f("Value")}},
		{name: "double quotes", in: `OutputParameters["status"]`, want: PropertyPath{f("OutputParameters"), k("status")}},
		{name: "index", in: "TrainingJobSummaries[0].TrainingJobName", want: PropertyPath{f("TrainingJobSummaries"), i(0), f("TrainingJobName")}},
		{name: "index then key", in: "Outputs[12]['x']", want: PropertyPath{f("Outputs"), i(12), k("x")}},
		{name: "key with dot and bracket", in: "M['a.b[c]'].V", want: PropertyPath{f("M"), k("a.b[c]"), f("V")}},
		{name: "empty", in: "", wantErr: "empty path"},
		{name: "leading dot", in: ".A", wantErr: "empty member name"},
		{name: "double dot", in: "A..B", wantErr: "empty member name"},
		{name: "trailing dot", in: "A.", wantErr: "ends with '.'"},
		{name: "leading bracket", in: "[0].A", wantErr: "must start with a member name"},
		{name: "bracket after dot", in: "A.[0]", wantErr: "'[' after '.'"},
		{name: "negative index", in: "A[-1]", wantErr: "not a non-negative integer"},
		{name: "word index", in: "A[x]", wantErr: "not a non-negative integer"},
		{name: "unterminated key", in: "A['x]", wantErr: "unterminated key"},
		{name: "unterminated bracket", in: "A[1", wantErr: "unterminated '['"},
		{name: "empty key", in: "A['']", wantErr: "empty key"},
		{name: "member right after bracket", in: "A[0]B", wantErr: "unexpected 'B'"},
		{name: "bad member char", in: "A.B-C", wantErr: "invalid character '-'"},
		{name: "member starts with digit", in: "A.1B", wantErr: "invalid character '1'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePropertyPath(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePropertyPath(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePropertyPath(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParsePropertyPath(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if s := got.String(); strings.ReplaceAll(s, `"`, "'") != strings.ReplaceAll(tt.in, `"`, "'") {
				t.Errorf("String() = %q, want %q", s, tt.in)
			}
		})
	}
}

func TestParseJSONPath(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "dotted", in: "regression_metrics.mse.value", want: "regression_metrics.mse.value"},
		{name: "dollar prefix", in: "$.metrics.auc", want: "metrics.auc"},
		{name: "dollar only", in: "$", want: ""},
		{name: "leading index", in: "[0].a", want: "[0].a"},
		{name: "keys with dashes and spaces", in: "my-metrics.f1 score", want: "my-metrics.f1 score"},
		{name: "quoted key", in: "a['b.c'][2]", want: "a['b.c'][2]"},
		{name: "stray bracket", in: "a]b", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJSONPath(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseJSONPath(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseJSONPath(%q): %v", tt.in, err)
			}
			if got.String() != tt.want {
				t.Errorf("ParseJSONPath(%q) = %q, want %q", tt.in, got.String(), tt.want)
			}
		})
	}
}

// describeTraining is the JSON-like DescribeTrainingJob response the lookups walk.
func describeTraining(t *testing.T) any {
	t.Helper()
	v, err := decodeJSON([]byte(`{
		"TrainingJobName": "pipelines-abc-trainabalonemodel-x1",
		"ModelArtifacts": {"S3ModelArtifacts": "s3://b/model.tar.gz"},
		"InputDataConfig": [
			{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/train"}}},
			{"ChannelName": "validation", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/validation"}}}
		],
		"FinalMetricDataList": [
			{"MetricName": "train:rmse", "Value": 1.5},
			{"MetricName": "validation:rmse", "Value": 2.25}
		],
		"HyperParameters": {"num_round": "50"},
		"SecondaryStatusTransitions": []
	}`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLookup(t *testing.T) {
	doc := describeTraining(t)
	tests := []struct {
		name    string
		path    string
		want    any
		wantErr string
	}{
		{name: "member", path: "ModelArtifacts.S3ModelArtifacts", want: "s3://b/model.tar.gz"},
		{name: "metric by name", path: "FinalMetricDataList['validation:rmse'].Value", want: json.Number("2.25")},
		{name: "channel by name", path: "InputDataConfig['validation'].DataSource.S3DataSource.S3Uri", want: "s3://b/validation"},
		{name: "by index", path: "InputDataConfig[0].ChannelName", want: "train"},
		{name: "map key", path: "HyperParameters['num_round']", want: "50"},
		{name: "whole object", path: "ModelArtifacts", want: map[string]any{"S3ModelArtifacts": "s3://b/model.tar.gz"}},
		{name: "missing member", path: "ModelArtifacts.Nope", wantErr: "ModelArtifacts.Nope: no such member"},
		{name: "missing name", path: "FinalMetricDataList['test:rmse'].Value",
			wantErr: `FinalMetricDataList['test:rmse']: no element named "test:rmse" (have "train:rmse", "validation:rmse")`},
		{name: "index out of range", path: "InputDataConfig[5]", wantErr: "index out of range (length 2)"},
		{name: "empty list", path: "SecondaryStatusTransitions[0]", wantErr: "index out of range (length 0)"},
		{name: "member of list", path: "InputDataConfig.ChannelName", wantErr: "cannot select member \"ChannelName\" of a list"},
		{name: "index of object", path: "ModelArtifacts[0]", wantErr: "cannot index an object"},
		{name: "member of string", path: "TrainingJobName.X", wantErr: "of a string"},
		{name: "missing map key", path: "HyperParameters['eta']", wantErr: "no such key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePropertyPath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Lookup(doc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Lookup(%s) error = %v, want it to contain %q", tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup(%s): %v", tt.path, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Lookup(%s) = %#v, want %#v", tt.path, got, tt.want)
			}
		})
	}
}

func TestToJSONValue(t *testing.T) {
	type artifacts struct{ S3ModelArtifacts string }
	type describe struct {
		ModelArtifacts artifacts
		Count          int
	}
	v, err := ToJSONValue(describe{ModelArtifacts: artifacts{"s3://b/m"}, Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePropertyPath("ModelArtifacts.S3ModelArtifacts")
	if got, err := p.Lookup(v); err != nil || got != "s3://b/m" {
		t.Fatalf("Lookup over a converted struct = %v, %v", got, err)
	}
	if got := v.(map[string]any)["Count"]; got != json.Number("3") {
		t.Errorf("Count = %#v, want json.Number(3)", got)
	}
}

func TestCallbackProperties(t *testing.T) {
	declared := []OutputParameter{{"approved", ParamBoolean}, {"score", ParamFloat}, {"note", ParamString}}
	got, err := CallbackProperties(declared, map[string]string{"approved": "True", "score": "0.93"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"OutputParameters": map[string]any{"approved": true, "score": 0.93}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CallbackProperties = %#v, want %#v", got, want)
	}
	p, _ := ParsePropertyPath("OutputParameters['approved']")
	if v, err := p.Lookup(got); err != nil || v != true {
		t.Errorf("OutputParameters['approved'] = %v, %v", v, err)
	}
	if _, err := CallbackProperties(declared, map[string]string{"other": "x"}); err == nil || !strings.Contains(err.Error(), `"other" is not declared`) {
		t.Errorf("undeclared output: err = %v", err)
	}
	if _, err := CallbackProperties(declared, map[string]string{"score": "high"}); err == nil || !strings.Contains(err.Error(), "not a Float") {
		t.Errorf("uncastable output: err = %v", err)
	}
}
