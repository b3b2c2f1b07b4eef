package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// registerXGBoost stores a two-tree model (prediction 0.5 + (x0<0.5 ? -1 : 1) + (x1<2 ? 0.25 :
// -0.25)) and registers it as a version of group with the given approval.
func registerXGBoost(t *testing.T, srv *servertest.Server, group string, status types.ModelApprovalStatus) string {
	t.Helper()
	tree := func(feat int32, cond, left, right float32) xgboost.Tree {
		return xgboost.Tree{LeftChildren: []int32{1, xgboost.NoChild, xgboost.NoChild}, RightChildren: []int32{2, xgboost.NoChild, xgboost.NoChild},
			SplitIndices: []int32{feat, 0, 0}, SplitConditions: []float32{cond, left, right}, DefaultLeft: []bool{true, false, false}}
	}
	m := &xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: 3, Trees: []xgboost.Tree{tree(0, 0.5, -1, 1), tree(1, 2, 0.25, -0.25)}}
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, "xgboost-model"))
	if err := m.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var buf bytes.Buffer
	if err := blob.PackDir(dir, &buf); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u := blob.MustParseURI("s3://models/" + group + "/model.tar.gz")
	blob.EnsureBucket(ctx, srv.Blob(), u.Bucket)
	if err := srv.Blob().Put(ctx, u, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	c := srv.SageMaker()
	c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String(group)})
	out, err := c.CreateModelPackage(ctx, &sm.CreateModelPackageInput{ModelPackageGroupName: aws.String(group), ModelApprovalStatus: status,
		InferenceSpecification: &types.InferenceSpecification{Containers: []types.ModelPackageContainerDefinition{{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(u.String())}},
			SupportedContentTypes: []string{"text/csv"}, SupportedResponseMIMETypes: []string{"text/csv"}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ModelPackageArn)
}

func TestDeployAndEndpointCommands(t *testing.T) {
	clearAWSEnv(t)
	srv := servertest.Start(t)
	registerXGBoost(t, srv, "churn", types.ModelApprovalStatusApproved)
	registerXGBoost(t, srv, "churn", types.ModelApprovalStatusPendingManualApproval)

	// The group's latest approved version is 1.
	out := mustSluice(t, srv, "deploy", "churn", "--endpoint", "churn-prod", "--instance-count", "2")
	if !strings.Contains(out, "churn/1 created endpoint churn-prod (model churn-v1") {
		t.Fatalf("deploy: %s", out)
	}
	if out := mustSluice(t, srv, "endpoints", "invoke", "churn-prod", "--body", "1,1,1"); strings.TrimSpace(out) != "1.75" {
		t.Fatalf("invoke: %q", out)
	}
	out = mustSluice(t, srv, "-o", "json", "endpoints", "invoke", "churn-prod", "--body", `{"instances":[[0,3,0]]}`, "--content-type", "application/json", "--accept", "application/json")
	var inv map[string]string
	if err := json.Unmarshal([]byte(out), &inv); err != nil || inv["Body"] != `{"predictions":[{"score":-0.75}]}` || inv["InvokedProductionVariant"] != "AllTraffic" {
		t.Fatalf("invoke json: %s (%v)", out, err)
	}

	// An unapproved version is refused unless asked for.
	if _, errOut, code := sluice(t, srv, "deploy", "churn/2", "--endpoint", "churn-prod"); code == 0 || !strings.Contains(errOut, "churn/2 is PendingManualApproval") {
		t.Fatalf("deploying an unapproved version: exit %d, %s", code, errOut)
	}
	out = mustSluice(t, srv, "deploy", "churn/2", "--endpoint", "churn-prod", "--allow-unapproved")
	if !strings.Contains(out, "churn/2 updated endpoint churn-prod") {
		t.Fatalf("deploy --allow-unapproved: %s", out)
	}

	out = mustSluice(t, srv, "endpoints", "list")
	if !strings.Contains(out, "churn-prod") || !strings.Contains(out, "InService") {
		t.Fatalf("list: %s", out)
	}
	out = mustSluice(t, srv, "endpoints", "describe", "churn-prod")
	for _, want := range []string{"Status:", "InService", "AllTraffic", "sluice/xgboost"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe lacks %q:\n%s", want, out)
		}
	}

	// endpoints create from a model, then delete.
	mustSluice(t, srv, "endpoints", "create", "churn-dev", "--model", "churn-v1")
	if out := mustSluice(t, srv, "endpoints", "invoke", "churn-dev", "--body", "0,0,0", "--target-variant", "AllTraffic"); strings.TrimSpace(out) != "-0.25" {
		t.Fatalf("invoke churn-dev: %q", out)
	}
	mustSluice(t, srv, "endpoints", "delete", "churn-dev")
	if _, errOut, code := sluice(t, srv, "endpoints", "invoke", "churn-dev", "--body", "0,0,0"); code == 0 || !strings.Contains(errOut, "ValidationError") {
		t.Fatalf("invoking a deleted endpoint: exit %d, %s", code, errOut)
	}
	if _, errOut, code := sluice(t, srv, "endpoints", "create", "x"); code == 0 || !strings.Contains(errOut, "--config CONFIG or --model MODEL") {
		t.Fatalf("create without a config: exit %d, %s", code, errOut)
	}
}
