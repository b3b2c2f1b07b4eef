package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestConditionOperators(t *testing.T) {
	env := testEnv(t)
	mse := `{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvaluationReport"}, "Path": "regression_metrics.mse.value"}}`
	tests := []struct {
		name    string
		cond    string
		want    bool
		wantErr string
	}{
		{name: "LTE json number vs float param", cond: `{"Type": "LessThanOrEqualTo", "LeftValue": ` + mse + `, "RightValue": {"Get": "Parameters.Threshold"}}`, want: true},
		{name: "LTE equal values", cond: `{"Type": "LessThanOrEqualTo", "LeftValue": 6, "RightValue": {"Get": "Parameters.Threshold"}}`, want: true},
		{name: "LT equal values", cond: `{"Type": "LessThan", "LeftValue": 6, "RightValue": 6.0}`, want: false},
		{name: "GT", cond: `{"Type": "GreaterThan", "LeftValue": ` + mse + `, "RightValue": 4}`, want: true},
		{name: "GTE int param", cond: `{"Type": "GreaterThanOrEqualTo", "LeftValue": {"Get": "Parameters.Count"}, "RightValue": 3}`, want: true},
		{name: "GT numeric string vs number", cond: `{"Type": "GreaterThan", "LeftValue": "10", "RightValue": 9.5}`, want: true},
		{name: "LT strings compare lexically", cond: `{"Type": "LessThan", "LeftValue": "10", "RightValue": "9"}`, want: true},
		{name: "GT non-numeric string vs number", cond: `{"Type": "GreaterThan", "LeftValue": "high", "RightValue": 1}`, wantErr: `non-numeric string "high"`},
		{name: "GT booleans", cond: `{"Type": "GreaterThan", "LeftValue": true, "RightValue": false}`, wantErr: "cannot order a boolean and a boolean"},
		{name: "Equals ints and floats", cond: `{"Type": "Equals", "LeftValue": 1, "RightValue": 1.0}`, want: true},
		{name: "Equals strings", cond: `{"Type": "Equals", "LeftValue": {"Get": "Parameters.Env"}, "RightValue": "dev"}`, want: true},
		{name: "Equals strings differ", cond: `{"Type": "Equals", "LeftValue": {"Get": "Parameters.Env"}, "RightValue": "Dev"}`, want: false},
		{name: "Equals callback boolean", cond: `{"Type": "Equals", "LeftValue": {"Get": "Steps.Approval.OutputParameters['approved']"}, "RightValue": true}`, want: true},
		{name: "Equals boolean and string", cond: `{"Type": "Equals", "LeftValue": {"Get": "Parameters.Flag"}, "RightValue": "True"}`, want: true},
		{name: "Equals numeric string", cond: `{"Type": "Equals", "LeftValue": "0.930", "RightValue": {"Get": "Steps.Approval.OutputParameters['score']"}}`, want: true},
		{name: "Equals null and null", cond: `{"Type": "Equals", "LeftValue": null, "RightValue": null}`, want: true},
		{name: "Equals null and value", cond: `{"Type": "Equals", "LeftValue": null, "RightValue": "x"}`, want: false},
		{name: "Equals number and boolean", cond: `{"Type": "Equals", "LeftValue": 1, "RightValue": true}`, wantErr: "cannot compare a number with a boolean"},
		{name: "Equals objects", cond: `{"Type": "Equals", "LeftValue": {"a": 1}, "RightValue": {"a": 1}}`, wantErr: "cannot compare an object with an object"},
		{name: "In member", cond: `{"Type": "In", "QueryValue": {"Get": "Parameters.Env"}, "Values": ["prod", "dev"]}`, want: true},
		{name: "In not member", cond: `{"Type": "In", "QueryValue": "qa", "Values": ["prod", "dev"]}`, want: false},
		{name: "In numbers", cond: `{"Type": "In", "QueryValue": {"Get": "Parameters.Count"}, "Values": [1, 2, 3.0]}`, want: true},
		{name: "In skips incomparable values", cond: `{"Type": "In", "QueryValue": "dev", "Values": [true, {"k": 1}, "dev"]}`, want: true},
		{name: "In with expressions", cond: `{"Type": "In", "QueryValue": "s3://b/exec-1/train", "Values": [{"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}]}`, want: true},
		{name: "In empty", cond: `{"Type": "In", "QueryValue": "a", "Values": []}`, want: false},
		{name: "Not", cond: `{"Type": "Not", "Condition": {"Type": "GreaterThan", "LeftValue": ` + mse + `, "RightValue": {"Get": "Parameters.Threshold"}}}`, want: true},
		{name: "Not Not", cond: `{"Type": "Not", "Condition": {"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": 1, "RightValue": 2}}}`, want: false},
		{name: "Or first true", cond: `{"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}, {"Type": "Equals", "LeftValue": 1, "RightValue": true}]}`, want: true},
		{name: "Or second true", cond: `{"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 2}, {"Type": "In", "QueryValue": "dev", "Values": ["dev"]}]}`, want: true},
		{name: "Or none true", cond: `{"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 2}, {"Type": "LessThan", "LeftValue": 3, "RightValue": 2}]}`, want: false},
		{name: "Or error", cond: `{"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 2}, {"Type": "LessThan", "LeftValue": true, "RightValue": 2}]}`, wantErr: "Conditions[1] (LessThan): cannot order"},
		{name: "operand error", cond: `{"Type": "Equals", "LeftValue": {"Get": "Steps.Later.ModelName"}, "RightValue": 1}`, wantErr: "LeftValue: Get Steps.Later.ModelName: step has not run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCondition(mustJSON(t, tt.cond))
			if err != nil {
				t.Fatalf("ParseCondition: %v", err)
			}
			got, err := c.Evaluate(env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Evaluate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEvaluateConditionsIsAND(t *testing.T) {
	env := testEnv(t)
	parse := func(s string) []Condition {
		cs, err := ParseConditions(mustJSON(t, s))
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	tests := []struct {
		name    string
		conds   string
		want    bool
		wantErr string
	}{
		{name: "empty list is true", conds: `[]`, want: true},
		{name: "all true", conds: `[{"Type": "Equals", "LeftValue": 1, "RightValue": 1}, {"Type": "LessThan", "LeftValue": 1, "RightValue": 2}]`, want: true},
		{name: "one false", conds: `[{"Type": "Equals", "LeftValue": 1, "RightValue": 1}, {"Type": "LessThan", "LeftValue": 3, "RightValue": 2}]`, want: false},
		{name: "stops at first false", conds: `[{"Type": "Equals", "LeftValue": 1, "RightValue": 2}, {"Type": "LessThan", "LeftValue": true, "RightValue": 2}]`, want: false},
		{name: "error names the condition", conds: `[{"Type": "Equals", "LeftValue": 1, "RightValue": 1}, {"Type": "LessThan", "LeftValue": true, "RightValue": 2}]`, wantErr: "Conditions[1] (LessThan): cannot order a boolean and a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EvaluateConditions(parse(tt.conds), env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("EvaluateConditions = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestParseConditionErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "not an object", in: `1`, want: "want a condition object, got a number"},
		{name: "no type", in: `{"LeftValue": 1}`, want: "Type: required string"},
		{name: "unknown type", in: `{"Type": "NotIn"}`, want: `Type: unknown condition type "NotIn"`},
		{name: "binary missing left", in: `{"Type": "LessThan", "RightValue": 1}`, want: "LeftValue: required"},
		{name: "malformed operand", in: `{"Type": "LessThan", "LeftValue": {"Get": 3}, "RightValue": 1}`, want: "LeftValue: Get: want a string"},
		{name: "In malformed value", in: `{"Type": "In", "QueryValue": 1, "Values": [1, {"Std:Join": {}}]}`, want: "Values[1]: Std:Join.Values: required"},
		{name: "Not of non-condition", in: `{"Type": "Not", "Condition": "x"}`, want: "Condition: want a condition object"},
		{name: "Or empty", in: `{"Type": "Or", "Conditions": []}`, want: "Conditions: an Or needs at least one condition"},
		{name: "Or nested error", in: `{"Type": "Or", "Conditions": [{"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": 1}}]}`, want: "Conditions[0].Condition.RightValue: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCondition(mustJSON(t, tt.in))
			if err == nil || err.Error() != tt.want && !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEqualAndCompareTables(t *testing.T) {
	eq := []struct {
		a, b any
		want bool
		err  bool
	}{
		{int64(3), json.Number("3"), true, false},
		{int64(9007199254740993), json.Number("9007199254740992"), false, false}, // exact for large integers
		{float32(0.5), 0.5, true, false},
		{uint8(7), 7.0, true, false},
		{"7", int64(7), true, false},
		{" 7 ", int64(7), true, false},
		{"x", "x", true, false},
		{false, "false", true, false},
		{false, "no", false, true},
		{[]any{1}, []any{1}, false, true},
	}
	for _, tt := range eq {
		got, err := Equal(tt.a, tt.b)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("Equal(%#v, %#v) = %v, %v; want %v, error %v", tt.a, tt.b, got, err, tt.want, tt.err)
		}
	}
	cmp := []struct {
		a, b any
		want int
		err  bool
	}{
		{1, 2, -1, false},
		{2.5, int64(2), 1, false},
		{json.Number("1e3"), 999, 1, false},
		{"abc", "abd", -1, false},
		{"3.5", 3.5, 0, false},
		{nil, 1, 0, true},
		{true, 1, 0, true},
	}
	for _, tt := range cmp {
		got, err := Compare(tt.a, tt.b)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("Compare(%#v, %#v) = %v, %v; want %v, error %v", tt.a, tt.b, got, err, tt.want, tt.err)
		}
	}
}

// TestAbaloneCondition evaluates the SDK's condition step on both sides of the threshold and
// checks which steps the engine must skip.
func TestAbaloneCondition(t *testing.T) {
	d := parseFixture(t, "abalone.good.json")
	params, err := d.BindParameters(nil)
	if err != nil {
		t.Fatal(err)
	}
	cond, _ := d.Step("AbaloneMSECond")
	for _, tt := range []struct {
		mse     string
		outcome bool
		skipped []string
	}{
		{"4.2", true, []string{"AbaloneMSEFail"}},
		{"6.0", true, []string{"AbaloneMSEFail"}},
		{"7.5", false, []string{"RegisterAbaloneModel-RegisterModel", "CreateAbaloneModel-CreateModel", "AbaloneTransform"}},
	} {
		env := Env{
			Parameters: params,
			PropertyFile: func(step, file string) (any, error) {
				if step != "EvaluateAbaloneModel" || file != "EvaluationReport" {
					t.Fatalf("read property file %s/%s", step, file)
				}
				return mustJSON(t, `{"regression_metrics": {"mse": {"value": `+tt.mse+`, "standard_deviation": 1.1}}}`), nil
			},
		}
		got, err := EvaluateConditions(cond.Conditions, env)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.outcome {
			t.Errorf("mse %s: outcome %v, want %v", tt.mse, got, tt.outcome)
		}
		if skipped := d.Graph().SkippedBy(cond.Name, got); strings.Join(skipped, ",") != strings.Join(tt.skipped, ",") {
			t.Errorf("mse %s: skipped %v, want %v", tt.mse, skipped, tt.skipped)
		}
	}
	fail, _ := d.Step("AbaloneMSEFail")
	msg, err := Resolve(fail.ErrorMessage(), Env{Parameters: params})
	if err != nil || msg != "Execution failed due to MSE > 6.0" {
		t.Errorf("Fail message = %q, %v", msg, err)
	}
}
