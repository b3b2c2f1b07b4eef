package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// gateDefinition prepares, waits for an approval by callback, then publishes if approved.
const gateDefinition = `{
  "Version": "2020-12-01",
  "Parameters": [{"Name": "Mode", "Type": "String", "DefaultValue": "slow"}],
  "Steps": [
    {"Name": "Prep", "Type": "Processing", "Arguments": {
      "AppSpecification": {"ImageUri": "test/sh", "ContainerArguments": ["echo prep"]},
      "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}},
      "Environment": {"MODE": {"Get": "Parameters.Mode"}},
      "RoleArn": "arn:aws:iam::000000000000:role/R"}},
    {"Name": "Gate", "Type": "Callback", "DependsOn": ["Prep"], "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/q",
     "OutputParameters": [{"OutputName": "approved", "OutputType": "Boolean"}], "Arguments": {}},
    {"Name": "Approved", "Type": "Condition", "Arguments": {
      "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.Gate.OutputParameters['approved']"}, "RightValue": true}],
      "IfSteps": [{"Name": "Publish", "Type": "Processing", "Arguments": {
        "AppSpecification": {"ImageUri": "test/sh", "ContainerArguments": ["echo publish"]},
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}},
        "RoleArn": "arn:aws:iam::000000000000:role/R"}}],
      "ElseSteps": [{"Name": "Rejected", "Type": "Fail", "Arguments": {"ErrorMessage": "not approved"}}]}}
  ]
}`

// callbackTokenOf waits until the latest execution of a pipeline lists the Gate step's token.
// callbackTokenOf waits for the Gate step of the pipeline's latest execution to list a callback
// token other than the ones in not (a retry re-runs the step asynchronously, so the failed
// attempt's token can still be listed for a moment).
func callbackTokenOf(t *testing.T, pipelineName string, not ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var steps []struct {
			StepName string
			Metadata struct {
				Callback struct{ CallbackToken string }
			}
		}
		out := mustCLI(t, "pipelines", "steps", pipelineName, "-o", "json")
		if err := json.Unmarshal([]byte(out), &steps); err != nil {
			t.Fatalf("steps -o json: %v\n%s", err, out)
		}
		for _, s := range steps {
			if s.StepName == "Gate" && s.Metadata.Callback.CallbackToken != "" && !slices.Contains(not, s.Metadata.Callback.CallbackToken) {
				return s.Metadata.Callback.CallbackToken
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no callback token listed:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPipelinesCommands(t *testing.T) {
	jobsServerForCLI(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "release_gate.json")
	if err := os.WriteFile(file, []byte(gateDefinition), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustCLI(t, "pipelines", "upsert", "-f", file); !strings.Contains(out, "Created pipeline release-gate (version 1)") {
		t.Fatalf("upsert (create): %s", out)
	}
	if out := mustCLI(t, "pipelines", "upsert", "-f", file, "--description", "gated release"); !strings.Contains(out, "Updated pipeline release-gate (version 2)") {
		t.Fatalf("upsert (update): %s", out)
	}
	if out := mustCLI(t, "pipelines", "list"); !strings.Contains(out, "release-gate") || !strings.Contains(out, "gated release") {
		t.Errorf("list: %s", out)
	}
	graph := mustCLI(t, "pipelines", "graph", "release-gate")
	for _, want := range []string{"Gate (Callback)", "after Prep [DependsOn]", "if true:  Publish", "if false: Rejected"} {
		if !strings.Contains(graph, want) {
			t.Errorf("graph lacks %q:\n%s", want, graph)
		}
	}
	if dot := mustCLI(t, "pipelines", "graph", "-f", file, "--dot"); !strings.HasPrefix(dot, `digraph "release-gate" {`) || !strings.Contains(dot, `"Approved" -> "Publish" [label="if"`) {
		t.Errorf("graph --dot:\n%s", dot)
	}

	// Approve: the execution runs through to Publish.
	if out := mustCLI(t, "pipelines", "start", "release-gate", "-p", "Mode=fast"); !strings.Contains(out, "/execution/") {
		t.Fatalf("start: %s", out)
	}
	token := callbackTokenOf(t, "release-gate")
	mustCLI(t, "pipelines", "callback", "succeed", token, "-o", "approved=true")
	code, out, errs := runCLI(t, "pipelines", "steps", "release-gate", "--watch")
	if code != 0 || !strings.Contains(out, "Succeeded") || !strings.Contains(out, "Publish") {
		t.Fatalf("steps --watch: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "token "+token) || !strings.Contains(out, "outcome True") {
		t.Errorf("watch output lacks the step details:\n%s", out)
	}

	// Reject: the execution fails with the Fail step's message; a retry asks again.
	mustCLI(t, "pipelines", "start", "release-gate")
	token = callbackTokenOf(t, "release-gate")
	mustCLI(t, "pipelines", "callback", "fail", token, "--reason", "not today")
	code, out, _ = runCLI(t, "pipelines", "steps", "release-gate", "--watch")
	if code != 1 || !strings.Contains(out, "Failed") || !strings.Contains(out, "not today") {
		t.Fatalf("watch of a failed execution: exit %d\n%s", code, out)
	}
	mustCLI(t, "pipelines", "retry", "release-gate")
	// The retried Callback step must come back with a new token; waiting for one that differs
	// fails after 20 s if it never does.
	retried := callbackTokenOf(t, "release-gate", token)
	mustCLI(t, "pipelines", "callback", "succeed", retried, "-o", "approved=false")
	code, out, _ = runCLI(t, "pipelines", "steps", "release-gate", "--watch")
	if code != 1 || !strings.Contains(out, "Reason: not approved") {
		t.Fatalf("watch after retry: exit %d\n%s", code, out)
	}

	execs := mustCLI(t, "pipelines", "executions", "release-gate")
	if strings.Count(execs, "Succeeded") != 1 || strings.Count(execs, "Failed") != 1 {
		t.Errorf("executions:\n%s", execs)
	}
	if code, _, errs := runCLI(t, "pipelines", "callback", "succeed", "nosuchtokn"); code == 0 || !strings.Contains(errs, "ResourceNotFound") {
		t.Errorf("unknown token: exit %d, %s", code, errs)
	}
}
