package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseISODuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "PT12H", want: 12 * time.Hour},
		{in: "P30D", want: 30 * 24 * time.Hour},
		{in: "P1W", want: 7 * 24 * time.Hour},
		{in: "P1DT2H30M", want: 26*time.Hour + 30*time.Minute},
		{in: "PT0.5S", want: 500 * time.Millisecond},
		{in: "PT1,5H", want: 90 * time.Minute},
		{in: "P1M", want: 30 * 24 * time.Hour},
		{in: "P1Y", want: 365 * 24 * time.Hour},
		{in: "pt15m", want: 15 * time.Minute},
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "T16m", want: 16 * time.Minute},
		{in: "P", wantErr: "want an ISO 8601 duration"},
		{in: "", wantErr: "want an ISO 8601 duration"},
		{in: "PT", wantErr: "want an ISO 8601 duration"},
		{in: "P1DT", wantErr: "nothing after T"},
		{in: "PT1H2H", wantErr: "unit H given twice"},
		{in: "P1X", wantErr: `unknown unit "X"`},
		{in: "PH", wantErr: "want <number><unit>"},
		{in: "P12", wantErr: "want <number><unit>"},
		{in: "P1.2.3D", wantErr: "bad number"},
		{in: "PTT1H", wantErr: "T given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseISODuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseISODuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseISODuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCacheConfigExpiry(t *testing.T) {
	d := parseFixture(t, "abalone.good.json")
	prep, _ := d.Step("PreprocessAbaloneData")
	if prep.CacheConfig == nil || !prep.CacheConfig.Enabled {
		t.Fatalf("CacheConfig = %+v", prep.CacheConfig)
	}
	if exp, ok := prep.CacheConfig.Expiry(); !ok || exp != 12*time.Hour {
		t.Errorf("Expiry = %v, %v", exp, ok)
	}
	if _, ok := (CacheConfig{Enabled: true}).Expiry(); ok {
		t.Error("an empty ExpireAfter has a limit")
	}
}

func TestCacheKey(t *testing.T) {
	args := func(s string) any { return mustJSON(t, s) }
	base := args(`{"AppSpecification": {"ImageUri": "img", "ContainerEntrypoint": ["python3", "p.py"]},
		"ProcessingInputs": [{"InputName": "code", "S3Input": {"S3Uri": "s3://b/code/p.py"}}],
		"Environment": {"A": "1"},
		"ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/exec-1/train"}}]},
		"ProcessingResources": {"ClusterConfig": {"InstanceCount": 1}}}`)
	key := CacheKey(StepProcessing, base, "sha256:aaa")
	if len(key) != 64 {
		t.Fatalf("key %q is not a hex SHA-256", key)
	}
	tests := []struct {
		name   string
		typ    StepType
		args   any
		digest []string
		same   bool
	}{
		{"identical", StepProcessing, base, []string{"sha256:aaa"}, true},
		{"other key order and number types", StepProcessing, map[string]any{
			"ProcessingResources":    map[string]any{"ClusterConfig": map[string]any{"InstanceCount": 2.0}},
			"ProcessingOutputConfig": map[string]any{"Outputs": []any{}},
			"Environment":            map[string]any{"A": "1"},
			"ProcessingInputs":       []any{map[string]any{"S3Input": map[string]any{"S3Uri": "s3://b/code/p.py"}, "InputName": "code"}},
			"AppSpecification":       map[string]any{"ContainerEntrypoint": []any{"python3", "p.py"}, "ImageUri": "img"},
		}, []string{"sha256:aaa"}, true}, // outputs and resources are not part of a processing step's key
		{"other code content", StepProcessing, base, []string{"sha256:bbb"}, false},
		{"no code digest", StepProcessing, base, nil, false},
		{"other environment", StepProcessing, args(`{"AppSpecification": {"ImageUri": "img", "ContainerEntrypoint": ["python3", "p.py"]},
			"ProcessingInputs": [{"InputName": "code", "S3Input": {"S3Uri": "s3://b/code/p.py"}}], "Environment": {"A": "2"}}`), []string{"sha256:aaa"}, false},
		{"other step type", StepTraining, base, []string{"sha256:aaa"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CacheKey(tt.typ, tt.args, tt.digest...)
			if (got == key) != tt.same {
				t.Errorf("CacheKey same = %v, want %v", got == key, tt.same)
			}
		})
	}

	// Numbers compare by value whatever holds them; typed values are brought to JSON first.
	a := CacheKey(StepModel, map[string]any{"N": json.Number("1.0"), "M": int64(3)})
	b := CacheKey(StepModel, map[string]any{"N": 1, "M": 3.0})
	if a != b {
		t.Error("equal numbers of different Go types give different keys")
	}
	type container struct{ Image string }
	c := CacheKey(StepModel, map[string]any{"PrimaryContainer": container{"img"}})
	e := CacheKey(StepModel, map[string]any{"PrimaryContainer": map[string]any{"Image": "img"}})
	if c != e {
		t.Error("a struct and the equal map give different keys")
	}
}
