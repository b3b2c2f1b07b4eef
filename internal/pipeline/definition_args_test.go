package pipeline

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestResolveArgumentsCoercesToRequestTypes(t *testing.T) {
	def := `{"Version": "2020-12-01",
	  "Parameters": [{"Name": "Rounds", "Type": "Integer", "DefaultValue": 50}, {"Name": "Eta", "Type": "Float", "DefaultValue": 0.2},
	                 {"Name": "Spot", "Type": "Boolean", "DefaultValue": false}, {"Name": "Count", "Type": "Integer", "DefaultValue": 2}],
	  "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {
	    "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
	    "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
	    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": {"Get": "Parameters.Count"}, "VolumeSizeInGB": 30},
	    "StoppingCondition": {"MaxRuntimeInSeconds": 600},
	    "RoleArn": "arn:aws:iam::111122223333:role/R",
	    "EnableManagedSpotTraining": {"Get": "Parameters.Spot"},
	    "HyperParameters": {"num_round": {"Get": "Parameters.Rounds"}, "eta": {"Get": "Parameters.Eta"}, "early": {"Get": "Parameters.Spot"}},
	    "Environment": {"ROUNDS": {"Get": "Parameters.Rounds"}},
	    "Unknown": {"Kept": {"Get": "Parameters.Rounds"}}
	  }}]}`
	d, err := Parse([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	params, err := d.BindParameters(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := d.Step("Train")
	got, err := s.ResolveArguments(Env{Parameters: params})
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	if hp := m["HyperParameters"]; !reflect.DeepEqual(hp, map[string]any{"num_round": "50", "eta": "0.2", "early": "false"}) {
		t.Errorf("HyperParameters = %#v, want strings", hp)
	}
	if env := m["Environment"]; !reflect.DeepEqual(env, map[string]any{"ROUNDS": "50"}) {
		t.Errorf("Environment = %#v", env)
	}
	if n := m["ResourceConfig"].(map[string]any)["InstanceCount"]; n != int64(2) {
		t.Errorf("InstanceCount = %#v, want int64(2)", n)
	}
	if b := m["EnableManagedSpotTraining"]; b != false {
		t.Errorf("EnableManagedSpotTraining = %#v", b)
	}
	if k := m["Unknown"].(map[string]any)["Kept"]; k != int64(50) {
		t.Errorf("unknown member changed: %#v", k)
	}
	if n := m["StoppingCondition"].(map[string]any)["MaxRuntimeInSeconds"]; n != json.Number("600") {
		t.Errorf("literal number = %#v", n)
	}

	_, err = s.ResolveArguments(Env{})
	if err == nil || !strings.HasPrefix(err.Error(), `step "Train": Arguments.`) {
		t.Errorf("error = %v", err)
	}
}
