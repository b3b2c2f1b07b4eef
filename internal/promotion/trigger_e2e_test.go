package promotion_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/server/servertest"
	"github.com/sluice-ml/sluice/internal/store"
)

func executions(t *testing.T, srv *servertest.Server, pipeline string) []types.PipelineExecutionSummary {
	t.Helper()
	out, err := srv.SageMaker().ListPipelineExecutions(context.Background(), &sm.ListPipelineExecutionsInput{PipelineName: aws.String(pipeline)})
	if err != nil {
		t.Fatal(err)
	}
	return out.PipelineExecutionSummaries
}

func webhook(t *testing.T, srv *servertest.Server, name, token, delivery string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL()+"/api/v1/webhooks/"+name, strings.NewReader(`{"Parameters":{"ModelPackageArn":"churn/1","Unknown":"x"}}`))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if delivery != "" {
		req.Header.Set("X-GitHub-Delivery", delivery)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTriggers: an approval in the group starts the deploy pipeline once, and a redelivery of
// the same event (the trigger's cursor moved back, as after a crash before it was saved) starts
// nothing more; a webhook needs its token and starts one execution per delivery id.
func TestTriggers(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	sluice(t, srv, "envs", "create", "testdata/staging.yaml", "--name", "staging")
	def := `{"Version":"2020-12-01","Parameters":[{"Name":"ModelPackageArn","Type":"String"},{"Name":"ModelPackageGroupName","Type":"String","DefaultValue":"x"}],
		"Steps":[{"Name":"DeployStaging","Type":"Sluice:Deploy","Arguments":{"Environment":"staging","ModelPackageArn":{"Get":"Parameters.ModelPackageArn"}}}]}`
	if _, err := srv.SageMaker().CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("churn-auto"), PipelineDefinition: aws.String(def),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/deploy")}); err != nil {
		t.Fatal(err)
	}
	v1 := register(t, srv, "churn", types.ModelApprovalStatusPendingManualApproval, false)
	register(t, srv, "other", types.ModelApprovalStatusPendingManualApproval, false)
	out := sluice(t, srv, "triggers", "create", "on-approval", "--pipeline", "churn-auto", "--on-approval", "churn")
	if !strings.Contains(out, "trigger on-approval created (event → pipeline churn-auto)") {
		t.Fatalf("triggers create: %s", out)
	}
	if _, errOut, code := run(srv, "triggers", "create", "x", "--pipeline", "nope", "--webhook"); code == 0 || !strings.Contains(errOut, "nope") {
		t.Fatalf("a trigger of a missing pipeline: exit %d: %s", code, errOut)
	}

	// Approving a version of another group starts nothing; approving churn/1 starts one run.
	for _, arn := range []string{"arn:aws:sagemaker:us-east-1:000000000000:model-package/other/1", v1} {
		if _, err := srv.SageMaker().UpdateModelPackage(ctx, &sm.UpdateModelPackageInput{ModelPackageArn: aws.String(arn),
			ModelApprovalStatus: types.ModelApprovalStatusApproved}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the approval starts the pipeline", 30*time.Second, func() (bool, string) {
		return len(executions(t, srv, "churn-auto")) == 1, ""
	})
	first := aws.ToString(executions(t, srv, "churn-auto")[0].PipelineExecutionArn)
	if st, why := waitExecution(t, srv, first); st != "Succeeded" {
		t.Fatalf("triggered execution: %s: %s", st, why)
	}
	if p := releases(t, srv)["staging"]; p.Live == nil || p.Live.ModelPackageArn != v1 {
		t.Fatalf("staging after the trigger: %+v", p)
	}

	// Redelivery: rewind the cursor; the trigger reads the event again and starts nothing new.
	if err := srv.Store().InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE triggers SET event_cursor = 0 WHERE name = 'on-approval'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the trigger handles the events again", 30*time.Second, func() (bool, string) {
		row, err := srv.Store().Trigger(ctx, "on-approval")
		return err == nil && row.EventCursor > 0, ""
	})
	if n := len(executions(t, srv, "churn-auto")); n != 1 {
		t.Fatalf("a redelivered event started another execution: %d executions", n)
	}
	var trigs []struct {
		TriggerName string
		Firings     []struct{ DeliveryKey, PipelineExecutionArn, Reason string }
	}
	json.Unmarshal([]byte(sluice(t, srv, "-o", "json", "triggers", "list")), &trigs)
	if len(trigs) != 1 || len(trigs[0].Firings) != 1 || trigs[0].Firings[0].PipelineExecutionArn != first || !strings.Contains(trigs[0].Firings[0].Reason, "churn/1 became Approved") {
		t.Fatalf("triggers list: %+v", trigs)
	}

	// Webhooks: the token is required; a delivery id sent twice starts one execution.
	out = sluice(t, srv, "triggers", "create", "ci", "--pipeline", "churn-auto", "--webhook")
	i := strings.Index(out, "token (shown once): ")
	if i < 0 {
		t.Fatalf("webhook create: %s", out)
	}
	token := strings.Fields(out[i+len("token (shown once): "):])[0]
	if code, body := webhook(t, srv, "ci", "", "d1"); code != http.StatusForbidden {
		t.Fatalf("webhook without a token: %d %s", code, body)
	}
	if code, body := webhook(t, srv, "ci", token+"x", "d1"); code != http.StatusForbidden {
		t.Fatalf("webhook with a wrong token: %d %s", code, body)
	}
	if code, body := webhook(t, srv, "on-approval", token, "d1"); code != http.StatusForbidden {
		t.Fatalf("webhook on an event trigger: %d %s", code, body)
	}
	code, body1 := webhook(t, srv, "ci", token, "d1")
	if code != http.StatusOK {
		t.Fatalf("webhook: %d %s", code, body1)
	}
	_, body2 := webhook(t, srv, "ci", token, "d1")
	var f1, f2 struct{ PipelineExecutionArn string }
	json.Unmarshal([]byte(body1), &f1)
	json.Unmarshal([]byte(body2), &f2)
	if f1.PipelineExecutionArn == "" || f1 != f2 {
		t.Fatalf("one delivery, two answers: %s / %s", body1, body2)
	}
	if n := len(executions(t, srv, "churn-auto")); n != 2 {
		t.Fatalf("after two calls with one delivery id: %d executions", n)
	}
	if st, why := waitExecution(t, srv, f1.PipelineExecutionArn); st != "Succeeded" {
		t.Fatalf("webhook execution: %s: %s", st, why)
	}
	sluice(t, srv, "triggers", "delete", "ci")
	if code, _ := webhook(t, srv, "ci", token, "d2"); code != http.StatusForbidden {
		t.Fatalf("a deleted webhook answered %d", code)
	}
}
