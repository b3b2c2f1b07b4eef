package promotion_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// TestApprovalTimeout: a gate nobody answers fails the execution at its deadline, and is then
// listed as expired; deciding it afterwards is refused.
func TestApprovalTimeout(t *testing.T) {
	srv := servertest.Start(t)
	def := `{"Version":"2020-12-01","Steps":[{"Name":"Gate","Type":"Sluice:Approval","Arguments":{"Message":"ok?","TimeoutInSeconds":1}}]}`
	if _, err := srv.SageMaker().CreatePipeline(context.Background(), &sm.CreatePipelineInput{PipelineName: aws.String("gate"),
		PipelineDefinition: aws.String(def), RoleArn: aws.String("arn:aws:iam::000000000000:role/deploy")}); err != nil {
		t.Fatal(err)
	}
	out, err := srv.SageMaker().StartPipelineExecution(context.Background(), &sm.StartPipelineExecutionInput{PipelineName: aws.String("gate")})
	if err != nil {
		t.Fatal(err)
	}
	exec := aws.ToString(out.PipelineExecutionArn)
	id := pendingApproval(t, srv, exec)
	st, why := waitExecution(t, srv, exec)
	if st != "Failed" || !strings.Contains(why, "timed out") {
		t.Fatalf("unanswered gate: %s: %s", st, why)
	}
	var all []approval
	json.Unmarshal([]byte(sluice(t, srv, "-o", "json", "approvals", "list", "--all")), &all)
	if len(all) != 1 || all[0].Status != "Expired" {
		t.Fatalf("approvals: %+v", all)
	}
	if _, errOut, code := run(srv, "approvals", "approve", id); code == 0 || !strings.Contains(errOut, "already answered") {
		t.Fatalf("approving an expired gate: exit %d: %s", code, errOut)
	}
	if _, errOut, code := run(srv, "approvals", "approve", "nosuchgate"); code == 0 || !strings.Contains(errOut, "NotFound") {
		t.Fatalf("approving an unknown gate: exit %d: %s", code, errOut)
	}
}
