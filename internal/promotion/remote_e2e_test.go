package promotion_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// TestDeployPipelineRemoteEnvironment promotes from staging on one server to prod on a second
// server with its own data directory and port: the Deploy step copies the model artifact to the
// second server, creates the model, config and endpoint there through its SageMaker API, and
// the EndpointTest step invokes it there.
func TestDeployPipelineRemoteEnvironment(t *testing.T) {
	ctx := context.Background()
	build := servertest.Start(t)
	prodSrv := servertest.Start(t)

	sluice(t, build, "envs", "create", "testdata/staging.yaml", "--name", "staging")
	cfg := map[string]any{"EndpointName": "churn-prod", "Variant": map[string]any{"InstanceCount": 2},
		"Remote": map[string]any{"Url": prodSrv.URL(), "AccessKeyId": prodSrv.AccessKey, "SecretAccessKey": prodSrv.Secret, "Region": prodSrv.Config.Region}}
	b, _ := json.Marshal(cfg)
	file := filepath.Join(t.TempDir(), "prod-config.json")
	os.WriteFile(file, b, 0o600)
	out := sluice(t, build, "envs", "create", file)
	if !strings.Contains(out, "environment prod created (remote "+prodSrv.URL()) {
		t.Fatalf("envs create: %s", out)
	}
	// The secret never comes back.
	if d := sluice(t, build, "-o", "json", "envs", "describe", "prod"); strings.Contains(d, prodSrv.Secret) || !strings.Contains(d, "****") {
		t.Fatalf("describe shows the secret: %s", d)
	}

	v1 := register(t, build, "churn", types.ModelApprovalStatusApproved, false)
	def := remoteDeployPipeline
	if _, err := build.SageMaker().CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("churn-deploy"), PipelineDefinition: aws.String(def),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/deploy")}); err != nil {
		t.Fatal(err)
	}
	exec := start(t, build, "churn-deploy", v1)
	gate := pendingApproval(t, build, exec)
	sluice(t, build, "approvals", "approve", gate, "--comment", "ship it")
	if st, why := waitExecution(t, build, exec); st != "Succeeded" {
		t.Fatalf("execution: %s: %s\n%s", st, why, stepsOf(t, build, exec))
	}

	// The second server holds the artifact, the model and the endpoint, and answers.
	src := blob.MustParseURI("s3://models/churn/v1/model.tar.gz")
	if _, err := prodSrv.Blob().Stat(ctx, src); err != nil {
		t.Fatalf("the artifact was not copied to the remote server: %v", err)
	}
	m, err := prodSrv.SageMaker().DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String("churn-v1")})
	if err != nil || aws.ToString(m.PrimaryContainer.ModelDataUrl) != src.String() {
		t.Fatalf("remote model: %+v, %v", m, err)
	}
	if got := invoke(t, prodSrv, "churn-prod", "1,1,1"); got != "1.75" {
		t.Fatalf("remote prod answers %q", got)
	}
	if _, err := build.SageMaker().DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("churn-prod")}); err == nil {
		t.Fatalf("prod was deployed on the build server too")
	}
	p := releases(t, build)
	if p["prod"].Kind != "remote" || p["prod"].Live == nil || p["prod"].Live.ModelPackageArn != v1 || p["prod"].Live.ApprovalComment != "ship it" {
		t.Fatalf("releases: %+v", p["prod"])
	}
	if table := sluice(t, build, "releases"); !strings.Contains(table, "remote "+prodSrv.URL()) {
		t.Fatalf("releases table:\n%s", table)
	}

	// A wrong key for the remote fails the step with the remote's refusal.
	cfg["Remote"].(map[string]any)["SecretAccessKey"] = "wrong"
	b, _ = json.Marshal(cfg)
	os.WriteFile(file, b, 0o600)
	sluice(t, build, "envs", "create", file)
	v2 := register(t, build, "churn", types.ModelApprovalStatusApproved, false)
	exec2 := start(t, build, "churn-deploy", v2)
	sluice(t, build, "approvals", "approve", pendingApproval(t, build, exec2))
	if st, why := waitExecution(t, build, exec2); st != "Failed" || !strings.Contains(why, "prod") {
		t.Fatalf("a wrong remote key: %s: %s", st, why)
	}
}

// remoteDeployPipeline deploys to staging, tests it, waits at a gate, then deploys to the prod
// environment and tests prod through the environment: on a remote environment, on the remote.
const remoteDeployPipeline = `{"Version":"2020-12-01","Parameters":[{"Name":"ModelPackageArn","Type":"String"}],"Steps":[
	  {"Name":"DeployStaging","Type":"Sluice:Deploy","Arguments":{"Environment":"staging","ModelPackageArn":{"Get":"Parameters.ModelPackageArn"}}},
	  {"Name":"TestStaging","Type":"Sluice:EndpointTest","DependsOn":["DeployStaging"],"Arguments":{"Environment":"staging","Payloads":["1,1,1"],"ExpectBodyContains":"1.75"}},
	  {"Name":"Gate","Type":"Sluice:Approval","DependsOn":["TestStaging"],"Arguments":{"TimeoutInSeconds":600}},
	  {"Name":"DeployProd","Type":"Sluice:Deploy","DependsOn":["Gate"],"Arguments":{"Environment":"prod","ModelPackageArn":{"Get":"Parameters.ModelPackageArn"}}},
	  {"Name":"TestProd","Type":"Sluice:EndpointTest","Arguments":{"Environment":"prod","EndpointName":{"Get":"Steps.DeployProd.EndpointName"},
	     "Payloads":[{"Body":"0,3,0","ExpectBodyMatches":"^-0\\.75"},{"Body":"not,a,number","ExpectStatus":400}]}}]}`
