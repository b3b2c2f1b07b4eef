package deploy

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/sluice-ml/sluice/internal/pipeline"
)

func TestExampleFilesAreValid(t *testing.T) {
	b, err := os.ReadFile("pipeline.json")
	if err != nil {
		t.Fatal(err)
	}
	def, err := pipeline.Parse(b)
	if err != nil {
		t.Fatalf("pipeline.json: %v", err)
	}
	want := map[string]pipeline.StepType{"DeployStaging": pipeline.StepDeploy, "TestStaging": pipeline.StepEndpointTest,
		"ApproveProduction": pipeline.StepApproval, "DeployProduction": pipeline.StepDeploy}
	for name, typ := range want {
		s, ok := def.Step(name)
		if !ok || s.Type != typ {
			t.Errorf("step %s: %+v", name, s)
		}
	}
	for _, f := range []string{"staging-config.json", "prod-config.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
