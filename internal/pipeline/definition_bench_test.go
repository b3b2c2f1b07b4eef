package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

func BenchmarkParseAbalone(b *testing.B) {
	data, err := os.ReadFile("testdata/abalone.good.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseWide parses a definition of 200 Processing steps in which each step reads the
// outputs of the previous one: the size of a large real pipeline.
func BenchmarkParseWide(b *testing.B) {
	const n = 200
	steps := make([]any, n)
	for i := range n {
		input := any("s3://b/raw")
		if i > 0 {
			input = map[string]any{"Get": fmt.Sprintf("Steps.S%d.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri", i-1)}
		}
		steps[i] = map[string]any{"Name": fmt.Sprintf("S%d", i), "Type": "Processing", "Arguments": map[string]any{
			"ProcessingResources": map[string]any{"ClusterConfig": map[string]any{"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}},
			"AppSpecification":    map[string]any{"ImageUri": "img"},
			"RoleArn":             "arn:aws:iam::111122223333:role/R",
			"ProcessingInputs":    []any{map[string]any{"InputName": "in", "S3Input": map[string]any{"S3Uri": input, "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix", "S3InputMode": "File"}}},
			"ProcessingOutputConfig": map[string]any{"Outputs": []any{map[string]any{"OutputName": "out",
				"S3Output": map[string]any{"S3Uri": "s3://b/out", "LocalPath": "/opt/ml/processing/out", "S3UploadMode": "EndOfJob"}}}},
		}}
	}
	data, err := json.Marshal(map[string]any{"Version": Version, "Steps": steps})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
