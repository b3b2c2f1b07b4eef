package pipeline

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestBindParameters(t *testing.T) {
	d := parseFixture(t, "all-step-types.good.json")
	base := map[string]any{
		"InputData": "s3://sluice/abalone/abalone.csv", "InstanceCount": int64(1), "RmseThreshold": 2.5,
		"Env": "dev", "AutoApprove": false,
	}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		values  []ParameterValue
		want    map[string]any
		wantErr []string
	}{
		{name: "defaults and the required one", values: []ParameterValue{{"Owner", "ana"}}, want: with("Owner", "ana")},
		{name: "casts every type", values: []ParameterValue{
			{"Owner", "ana"}, {"InstanceCount", "4"}, {"RmseThreshold", "3"}, {"AutoApprove", "True"}, {"Env", "prod"}},
			want: with("Owner", "ana", "InstanceCount", int64(4), "RmseThreshold", 3.0, "AutoApprove", true, "Env", "prod")},
		{name: "missing required", values: nil, wantErr: []string{`parameter "Owner": required: it has no default value`}},
		{name: "unknown name", values: []ParameterValue{{"Owner", "a"}, {"Bogus", "1"}}, wantErr: []string{`parameter "Bogus": not declared by the pipeline`}},
		{name: "given twice", values: []ParameterValue{{"Owner", "a"}, {"Owner", "b"}}, wantErr: []string{`parameter "Owner": given more than once`}},
		{name: "bad integer", values: []ParameterValue{{"Owner", "a"}, {"InstanceCount", "1.5"}}, wantErr: []string{`parameter "InstanceCount": "1.5" is not an Integer`}},
		{name: "bad float", values: []ParameterValue{{"Owner", "a"}, {"RmseThreshold", "NaN"}}, wantErr: []string{`"NaN" is not a Float`}},
		{name: "bad boolean", values: []ParameterValue{{"Owner", "a"}, {"AutoApprove", "yes"}}, wantErr: []string{`"yes" is not a Boolean`}},
		{name: "outside enum", values: []ParameterValue{{"Owner", "a"}, {"Env", "qa"}}, wantErr: []string{`parameter "Env": "qa" is not one of ["dev", "staging", "prod"]`}},
		{name: "all problems at once", values: []ParameterValue{{"Env", "qa"}, {"X", "1"}},
			wantErr: []string{`parameter "X"`, `parameter "Env"`, `parameter "Owner"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.BindParameters(tt.values)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("BindParameters = %v, want an error", got)
				}
				if !errors.Is(err, ErrInvalidParameters) {
					t.Errorf("error %v does not match ErrInvalidParameters", err)
				}
				var pe *ParameterError
				if !errors.As(err, &pe) {
					t.Errorf("error %v holds no *ParameterError", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("BindParameters = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParameterDefaultsAreTyped(t *testing.T) {
	d := parseFixture(t, "abalone.good.json")
	want := map[string]any{
		"ProcessingInstanceCount": int64(1), "TrainingInstanceType": "ml.m5.xlarge",
		"MseThreshold": 6.0, "InputData": "s3://my-bucket/abalone/abalone-dataset.csv",
	}
	for name, w := range want {
		p, ok := d.Parameter(name)
		if !ok {
			t.Fatalf("parameter %s missing", name)
		}
		if v, ok := p.Default(); !ok || v != w {
			t.Errorf("%s default = %#v, want %#v", name, v, w)
		}
	}
}

func TestParameterTypeCast(t *testing.T) {
	tests := []struct {
		t    ParameterType
		in   string
		want any
		err  bool
	}{
		{ParamString, " x ", " x ", false},
		{ParamInteger, " 42 ", int64(42), false},
		{ParamInteger, "4e2", nil, true},
		{ParamFloat, "4e2", 400.0, false},
		{ParamFloat, "Inf", nil, true},
		{ParamBoolean, "FALSE", false, false},
		{ParamBoolean, "1", true, false},
		{"Double", "1", nil, true},
	}
	for _, tt := range tests {
		got, err := tt.t.Cast(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%s.Cast(%q) = %#v, %v; want %#v, error %v", tt.t, tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestValidateProgrammaticDefinition(t *testing.T) {
	d := &Definition{
		Version:    Version,
		Parameters: []Parameter{{Name: "Msg", Type: ParamString, DefaultValue: "stop"}},
		Steps: []*Step{{
			Name: "Stop", Type: StepFail,
			Arguments: map[string]any{"ErrorMessage": map[string]any{"Get": "Parameters.Msg"}},
		}},
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := d.Graph().Order(); len(got) != 1 || got[0] != "Stop" {
		t.Errorf("Order = %v", got)
	}
	d.Steps[0].DependsOn = []string{"Nowhere"}
	err := d.Validate()
	if err == nil || !strings.Contains(err.Error(), `step "Stop": DependsOn[0]: unknown step "Nowhere"`) {
		t.Fatalf("Validate = %v", err)
	}
	if d.Graph() != nil {
		t.Error("an invalid definition kept a graph")
	}
}

func TestParseRefusesOversizedDefinition(t *testing.T) {
	big := make([]byte, maxDefinitionBytes+1)
	_, err := Parse(big)
	if !errors.Is(err, ErrInvalidDefinition) || !strings.Contains(err.Error(), "the limit is 1048576") {
		t.Fatalf("Parse = %v", err)
	}
}
