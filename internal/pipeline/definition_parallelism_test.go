package pipeline

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParallelismConfiguration(t *testing.T) {
	var c ParallelismConfiguration
	if err := json.Unmarshal([]byte(`{"MaxParallelExecutionSteps": 4}`), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	err := ParallelismConfiguration{}.Validate()
	if !errors.Is(err, ErrInvalidDefinition) || err.Error() != "ParallelismConfiguration.MaxParallelExecutionSteps: 0 is below the minimum of 1" {
		t.Errorf("Validate(0) = %v", err)
	}
	pipeline, exec := &ParallelismConfiguration{MaxParallelExecutionSteps: 8}, &ParallelismConfiguration{MaxParallelExecutionSteps: 2}
	tests := []struct {
		name     string
		pipeline *ParallelismConfiguration
		exec     *ParallelismConfiguration
		want     int
	}{
		{"execution overrides", pipeline, exec, 2},
		{"pipeline default", pipeline, nil, 8},
		{"none", nil, nil, 0},
	}
	for _, tt := range tests {
		if got := MaxParallelSteps(tt.pipeline, tt.exec); got != tt.want {
			t.Errorf("%s: MaxParallelSteps = %d, want %d", tt.name, got, tt.want)
		}
	}
}
