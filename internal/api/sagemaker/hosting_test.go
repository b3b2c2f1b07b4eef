package sagemaker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	smr "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	rtypes "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime/types"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// putXGBoostModel stores a model.tar.gz holding a two-tree regression model whose prediction
// is 0.5 + (x0 < 0.5 ? -1 : 1) + (x1 < 2 ? 0.25 : -0.25), and returns its URI.
func putXGBoostModel(t *testing.T, srv *servertest.Server, key string) string {
	t.Helper()
	tree := func(feat int32, cond, left, right float32) xgboost.Tree {
		return xgboost.Tree{LeftChildren: []int32{1, xgboost.NoChild, xgboost.NoChild}, RightChildren: []int32{2, xgboost.NoChild, xgboost.NoChild},
			SplitIndices: []int32{feat, 0, 0}, SplitConditions: []float32{cond, left, right}, DefaultLeft: []bool{true, false, false}}
	}
	m := &xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: 3, Trees: []xgboost.Tree{tree(0, 0.5, -1, 1), tree(1, 2, 0.25, -0.25)}}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "xgboost-model"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var buf bytes.Buffer
	if err := blob.PackDir(dir, &buf); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u := blob.MustParseURI("s3://models/" + key)
	if err := blob.EnsureBucket(ctx, srv.Blob(), u.Bucket); err != nil {
		t.Fatal(err)
	}
	if err := srv.Blob().Put(ctx, u, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	return u.String()
}

func runtimeClient(srv *servertest.Server) *smr.Client {
	return smr.NewFromConfig(srv.AWS(), func(o *smr.Options) {
		o.BaseEndpoint = aws.String(srv.URL())
		o.RetryMaxAttempts = 1
	})
}

func waitInService(t *testing.T, c *sm.Client, name string) *sm.DescribeEndpointOutput {
	t.Helper()
	w := sm.NewEndpointInServiceWaiter(c, func(o *sm.EndpointInServiceWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	out, err := w.WaitForOutput(context.Background(), &sm.DescribeEndpointInput{EndpointName: aws.String(name)}, 30*time.Second)
	if err != nil {
		t.Fatalf("waiting for %s to be InService: %v", name, err)
	}
	return out
}

func TestHostingWithTheGoSDK(t *testing.T) {
	srv := servertest.Start(t)
	c, rc := srv.SageMaker(), runtimeClient(srv)
	ctx := context.Background()
	data := putXGBoostModel(t, srv, "churn/1/model.tar.gz")

	// An approved registry version becomes a model.
	if _, err := c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("churn")}); err != nil {
		t.Fatal(err)
	}
	mp, err := c.CreateModelPackage(ctx, &sm.CreateModelPackageInput{ModelPackageGroupName: aws.String("churn"), ModelApprovalStatus: types.ModelApprovalStatusApproved,
		InferenceSpecification: &types.InferenceSpecification{
			Containers:            []types.ModelPackageContainerDefinition{{Image: aws.String("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"), ModelDataUrl: aws.String(data)}},
			SupportedContentTypes: []string{"text/csv"}, SupportedResponseMIMETypes: []string{"text/csv"}}})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := c.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String("churn-v1"), PrimaryContainer: &types.ContainerDefinition{ModelPackageName: mp.ModelPackageArn},
		ExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/sagemaker"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ml")}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cm.ModelArn) != "arn:aws:sagemaker:us-east-1:000000000000:model/churn-v1" {
		t.Fatalf("ModelArn %s", aws.ToString(cm.ModelArn))
	}
	dm, err := c.DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String("churn-v1")})
	if err != nil || aws.ToString(dm.PrimaryContainer.ModelPackageName) != aws.ToString(mp.ModelPackageArn) || aws.ToString(dm.ExecutionRoleArn) == "" || dm.CreationTime == nil {
		t.Fatalf("DescribeModel: %+v, %v", dm, err)
	}
	if _, err := c.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String("direct"), PrimaryContainer: &types.ContainerDefinition{
		Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(data), Environment: map[string]string{"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json"}}}); err != nil {
		t.Fatal(err)
	}

	// Two weighted variants.
	if _, err := c.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{EndpointConfigName: aws.String("churn-cfg"), ProductionVariants: []types.ProductionVariant{
		{VariantName: aws.String("Primary"), ModelName: aws.String("churn-v1"), InitialInstanceCount: aws.Int32(2), InstanceType: types.ProductionVariantInstanceTypeMlM5Large, InitialVariantWeight: aws.Float32(3)},
		{VariantName: aws.String("Json"), ModelName: aws.String("direct"), InitialInstanceCount: aws.Int32(1), InstanceType: types.ProductionVariantInstanceTypeMlM5Large, InitialVariantWeight: aws.Float32(1)},
	}}); err != nil {
		t.Fatal(err)
	}
	dc, err := c.DescribeEndpointConfig(ctx, &sm.DescribeEndpointConfigInput{EndpointConfigName: aws.String("churn-cfg")})
	if err != nil || len(dc.ProductionVariants) != 2 || aws.ToFloat32(dc.ProductionVariants[0].InitialVariantWeight) != 3 {
		t.Fatalf("DescribeEndpointConfig: %+v, %v", dc, err)
	}
	if _, err := c.CreateEndpoint(ctx, &sm.CreateEndpointInput{EndpointName: aws.String("churn"), EndpointConfigName: aws.String("churn-cfg")}); err != nil {
		t.Fatal(err)
	}
	de := waitInService(t, c, "churn")
	if len(de.ProductionVariants) != 2 || aws.ToFloat32(de.ProductionVariants[0].CurrentWeight) != 3 || aws.ToInt32(de.ProductionVariants[0].CurrentInstanceCount) != 2 ||
		aws.ToString(de.ProductionVariants[0].DeployedImages[0].SpecifiedImage) == "" || aws.ToString(de.EndpointConfigName) != "churn-cfg" {
		t.Fatalf("DescribeEndpoint: %+v", de)
	}

	// InvokeEndpoint with and without TargetVariant.
	out, err := rc.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("churn"), Body: []byte("1,1,1\n0,3,0"), ContentType: aws.String("text/csv"), TargetVariant: aws.String("Primary")})
	if err != nil || string(out.Body) != "1.75\n-0.75" || aws.ToString(out.InvokedProductionVariant) != "Primary" || aws.ToString(out.ContentType) != "text/csv" {
		t.Fatalf("InvokeEndpoint Primary: %+v %q, %v", out, out.Body, err)
	}
	out, err = rc.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("churn"), Body: []byte("1,1,1"), ContentType: aws.String("text/csv"), TargetVariant: aws.String("Json")})
	if err != nil || string(out.Body) != `{"predictions":[{"score":1.75}]}` || aws.ToString(out.InvokedProductionVariant) != "Json" {
		t.Fatalf("InvokeEndpoint Json: %+v %q, %v", out, out.Body, err)
	}
	_, err = rc.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("churn"), Body: []byte("1,2"), ContentType: aws.String("text/csv")})
	var me *rtypes.ModelError
	if !errors.As(err, &me) || aws.ToInt32(me.OriginalStatusCode) != 400 || !strings.Contains(aws.ToString(me.OriginalMessage), "the model expects 3") ||
		!strings.Contains(aws.ToString(me.LogStreamArn), "/aws/sagemaker/Endpoints/churn") {
		t.Fatalf("bad row: %v (%+v)", err, me)
	}
	_, err = rc.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("churn"), Body: []byte("1,1,1"), ContentType: aws.String("text/csv"), TargetVariant: aws.String("Nope")})
	if apiCode(err) != "ValidationError" || !strings.Contains(err.Error(), `"Nope" is not part of endpoint churn`) {
		t.Fatalf("unknown variant: %v", err)
	}

	// Weights and capacities change in place.
	if _, err := c.UpdateEndpointWeightsAndCapacities(ctx, &sm.UpdateEndpointWeightsAndCapacitiesInput{EndpointName: aws.String("churn"),
		DesiredWeightsAndCapacities: []types.DesiredWeightAndCapacity{{VariantName: aws.String("Json"), DesiredWeight: aws.Float32(0)}}}); err != nil {
		t.Fatal(err)
	}
	de = waitInService(t, c, "churn")
	if aws.ToFloat32(de.ProductionVariants[1].CurrentWeight) != 0 {
		t.Fatalf("after reweighting: %+v", de.ProductionVariants[1])
	}
	for range 20 {
		out, err := rc.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("churn"), Body: []byte("1,1,1"), ContentType: aws.String("text/csv")})
		if err != nil || aws.ToString(out.InvokedProductionVariant) != "Primary" {
			t.Fatalf("with Json at weight 0: %v %v", out, err)
		}
	}

	// UpdateEndpoint to a new config; the old one can then be deleted.
	if _, err := c.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{EndpointConfigName: aws.String("churn-cfg-2"), ProductionVariants: []types.ProductionVariant{
		{VariantName: aws.String("Only"), ModelName: aws.String("direct"), InitialInstanceCount: aws.Int32(1), InstanceType: types.ProductionVariantInstanceTypeMlM5Large}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteEndpointConfig(ctx, &sm.DeleteEndpointConfigInput{EndpointConfigName: aws.String("churn-cfg")}); apiCode(err) != "ResourceInUse" {
		t.Fatalf("deleting a config in use: %v", err)
	}
	if _, err := c.UpdateEndpoint(ctx, &sm.UpdateEndpointInput{EndpointName: aws.String("churn"), EndpointConfigName: aws.String("churn-cfg-2")}); err != nil {
		t.Fatal(err)
	}
	de = waitInService(t, c, "churn")
	if aws.ToString(de.EndpointConfigName) != "churn-cfg-2" || len(de.ProductionVariants) != 1 || de.PendingDeploymentSummary != nil {
		t.Fatalf("after UpdateEndpoint: %+v", de)
	}
	if _, err := c.DeleteEndpointConfig(ctx, &sm.DeleteEndpointConfigInput{EndpointConfigName: aws.String("churn-cfg")}); err != nil {
		t.Fatalf("deleting the old config: %v", err)
	}

	// Lists and tags.
	le, err := c.ListEndpoints(ctx, &sm.ListEndpointsInput{StatusEquals: types.EndpointStatusInService, NameContains: aws.String("CHU")})
	if err != nil || len(le.Endpoints) != 1 || le.Endpoints[0].EndpointStatus != types.EndpointStatusInService {
		t.Fatalf("ListEndpoints: %+v, %v", le, err)
	}
	lm, err := c.ListModels(ctx, &sm.ListModelsInput{SortBy: types.ModelSortKeyName, SortOrder: types.OrderKeyAscending, MaxResults: aws.Int32(1)})
	if err != nil || len(lm.Models) != 1 || aws.ToString(lm.Models[0].ModelName) != "churn-v1" || lm.NextToken == nil {
		t.Fatalf("ListModels: %+v, %v", lm, err)
	}
	lm, err = c.ListModels(ctx, &sm.ListModelsInput{SortBy: types.ModelSortKeyName, SortOrder: types.OrderKeyAscending, MaxResults: aws.Int32(1), NextToken: lm.NextToken})
	if err != nil || len(lm.Models) != 1 || aws.ToString(lm.Models[0].ModelName) != "direct" {
		t.Fatalf("ListModels page 2: %+v, %v", lm, err)
	}
	lc, err := c.ListEndpointConfigs(ctx, &sm.ListEndpointConfigsInput{})
	if err != nil || len(lc.EndpointConfigs) != 1 {
		t.Fatalf("ListEndpointConfigs: %+v, %v", lc, err)
	}
	tags, err := c.ListTags(ctx, &sm.ListTagsInput{ResourceArn: cm.ModelArn})
	if err != nil || len(tags.Tags) != 1 {
		t.Fatalf("model tags: %+v, %v", tags, err)
	}

	// Metrics per variant, natively and for Prometheus.
	resp := signed(t, srv, http.MethodGet, "/api/v1/endpoints/churn/metrics", "", nil)
	var metrics struct {
		Variants []struct {
			VariantName                      string
			Invocations, Invocation4XXErrors uint64
			ModelLatency                     struct{ Count uint64 }
		}
	}
	decodeJSON(t, resp, &metrics)
	got := map[string]uint64{}
	for _, v := range metrics.Variants {
		got[v.VariantName] = v.Invocations
	}
	if got["Only"] != 0 || len(metrics.Variants) < 1 {
		t.Fatalf("metrics: %+v", metrics)
	}

	// DeleteEndpoint, then the waiter sees it gone.
	if _, err := c.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String("churn")}); err != nil {
		t.Fatal(err)
	}
	dw := sm.NewEndpointDeletedWaiter(c, func(o *sm.EndpointDeletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	})
	if err := dw.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("churn")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = rc.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("churn"), Body: []byte("1,1,1"), ContentType: aws.String("text/csv")})
	if apiCode(err) != "ValidationError" || !strings.Contains(err.Error(), "Endpoint churn of account 000000000000 not found") {
		t.Fatalf("invoking a deleted endpoint: %v", err)
	}
	if _, err := c.DeleteModel(ctx, &sm.DeleteModelInput{ModelName: aws.String("churn-v1")}); err != nil {
		t.Fatal(err)
	}
}

func TestHostingBadInput(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	c := srv.SageMaker()
	data := putXGBoostModel(t, srv, "m/model.tar.gz")
	if _, err := c.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String("m"), PrimaryContainer: &types.ContainerDefinition{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(data)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("g")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateModelPackage(ctx, &sm.CreateModelPackageInput{ModelPackageGroupName: aws.String("g"), InferenceSpecification: &types.InferenceSpecification{
		Containers: []types.ModelPackageContainerDefinition{{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(data)}}, SupportedContentTypes: []string{"text/csv"}, SupportedResponseMIMETypes: []string{"text/csv"}}}); err != nil {
		t.Fatal(err)
	}
	variant := `{"VariantName":"a","ModelName":"m","InitialInstanceCount":1,"InstanceType":"ml.m5.large"}`
	tests := []struct {
		name, op, body string
		status         int
		code, text     string
	}{
		{"model name missing", "CreateModel", `{"PrimaryContainer":{"Image":"sluice/xgboost"}}`, 400, "ValidationException", "Value null at 'modelName' failed to satisfy constraint: Member must not be null"},
		{"model name pattern", "CreateModel", `{"ModelName":"bad_name","PrimaryContainer":{"Image":"sluice/xgboost"}}`, 400, "ValidationException", "at 'modelName' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"unknown image", "CreateModel", `{"ModelName":"x","PrimaryContainer":{"Image":"registry.example/unknown:1"}}`, 400, "ValidationException", "cannot be served here"},
		{"pending package", "CreateModel", `{"ModelName":"x","PrimaryContainer":{"ModelPackageName":"g/1"}}`, 400, "ValidationException", "is PendingManualApproval; only Approved versions can be deployed"},
		{"unknown package", "CreateModel", `{"ModelName":"x","PrimaryContainer":{"ModelPackageName":"g/7"}}`, 400, "ValidationException", "does not exist"},
		{"duplicate model", "CreateModel", `{"ModelName":"M","PrimaryContainer":{"Image":"sluice/xgboost"}}`, 400, "ValidationException", "Cannot create already existing model"},
		{"describe missing model", "DescribeModel", `{"ModelName":"nope"}`, 400, "ValidationException", `Could not find model "arn:aws:sagemaker:us-east-1:000000000000:model/nope"`},
		{"unknown model in config", "CreateEndpointConfig", `{"EndpointConfigName":"c","ProductionVariants":[{"VariantName":"a","ModelName":"nope","InitialInstanceCount":1}]}`, 400, "ValidationException", "Could not find model"},
		{"weights all zero", "CreateEndpointConfig", `{"EndpointConfigName":"c","ProductionVariants":[{"VariantName":"a","ModelName":"m","InitialInstanceCount":1,"InitialVariantWeight":0},{"VariantName":"b","ModelName":"m","InitialInstanceCount":1,"InitialVariantWeight":0}]}`, 400, "ValidationException", "Every production variant has InitialVariantWeight 0"},
		{"duplicate variant names", "CreateEndpointConfig", `{"EndpointConfigName":"c","ProductionVariants":[` + variant + `,` + variant + `]}`, 400, "ValidationException", `Variant name "a" appears more than once`},
		{"negative weight", "CreateEndpointConfig", `{"EndpointConfigName":"c","ProductionVariants":[{"VariantName":"a","ModelName":"m","InitialInstanceCount":1,"InitialVariantWeight":-1}]}`, 400, "ValidationException", "initialVariantWeight"},
		{"zero instances", "CreateEndpointConfig", `{"EndpointConfigName":"c","ProductionVariants":[{"VariantName":"a","ModelName":"m","InitialInstanceCount":0}]}`, 400, "ValidationException", "Member must have value between 1 and"},
		{"variants missing", "CreateEndpointConfig", `{"EndpointConfigName":"c"}`, 400, "ValidationException", "'productionVariants' failed to satisfy constraint: Member must not be null"},
		{"capture mode", "CreateEndpointConfig", `{"EndpointConfigName":"c","ProductionVariants":[` + variant + `],"DataCaptureConfig":{"InitialSamplingPercentage":10,"DestinationS3Uri":"s3://cap/x","CaptureOptions":[{"CaptureMode":"Everything"}]}}`, 400, "ValidationException", "Member must satisfy enum value set: [Input, Output, InputAndOutput]"},
		{"capture percentage", "CreateEndpointConfig", `{"EndpointConfigName":"c","ProductionVariants":[` + variant + `],"DataCaptureConfig":{"InitialSamplingPercentage":101,"DestinationS3Uri":"s3://cap/x","CaptureOptions":[{"CaptureMode":"Input"}]}}`, 400, "ValidationException", "Member must have value between 0 and 100"},
		{"endpoint of a missing config", "CreateEndpoint", `{"EndpointName":"e","EndpointConfigName":"nope"}`, 400, "ValidationException", `Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/nope"`},
		{"describe missing endpoint", "DescribeEndpoint", `{"EndpointName":"nope"}`, 400, "ValidationException", `Could not find endpoint "arn:aws:sagemaker:us-east-1:000000000000:endpoint/nope"`},
		{"update missing endpoint", "UpdateEndpoint", `{"EndpointName":"nope","EndpointConfigName":"nope"}`, 400, "ValidationException", "Could not find endpoint configuration"},
		{"weights of a missing endpoint", "UpdateEndpointWeightsAndCapacities", `{"EndpointName":"nope","DesiredWeightsAndCapacities":[{"VariantName":"a","DesiredWeight":1}]}`, 400, "ValidationException", "Could not find endpoint"},
		{"negative desired weight", "UpdateEndpointWeightsAndCapacities", `{"EndpointName":"nope","DesiredWeightsAndCapacities":[{"VariantName":"a","DesiredWeight":-2}]}`, 400, "ValidationException", "desiredWeight"},
		{"list sort key", "ListEndpoints", `{"SortBy":"Size"}`, 400, "ValidationException", "sortBy"},
		{"list status", "ListEndpoints", `{"StatusEquals":"Sleeping"}`, 400, "ValidationException", "statusEquals"},
		{"delete missing config", "DeleteEndpointConfig", `{"EndpointConfigName":"nope"}`, 400, "ValidationException", "Could not find endpoint configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, srv, tc.op, tc.body)
			msg, _ := body["message"].(string)
			if status != tc.status || body["__type"] != tc.code || !strings.Contains(msg, tc.text) {
				t.Fatalf("%s: %d %v, want %d %s containing %q", tc.op, status, body, tc.status, tc.code, tc.text)
			}
		})
	}
	for _, op := range []string{"CreateModel", "DescribeModel", "CreateEndpointConfig", "CreateEndpoint"} {
		if _, body := call(t, srv, op, `{}`); body["__type"] != "ValidationException" {
			t.Fatalf("%s with an empty body: %v", op, body)
		}
	}
	lc, _ := c.ListEndpointConfigs(ctx, &sm.ListEndpointConfigsInput{})
	if len(lc.EndpointConfigs) != 0 {
		t.Fatalf("a refused config was stored: %+v", lc.EndpointConfigs)
	}
}

// A server restart brings every InService endpoint back.
func TestEndpointsComeBackAfterARestart(t *testing.T) {
	dir := t.TempDir()
	srv := servertest.Start(t, servertest.WithDataDir(dir))
	ctx := context.Background()
	c := srv.SageMaker()
	data := putXGBoostModel(t, srv, "m/model.tar.gz")
	c.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String("m"), PrimaryContainer: &types.ContainerDefinition{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(data)}})
	c.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{EndpointConfigName: aws.String("c"), ProductionVariants: []types.ProductionVariant{
		{VariantName: aws.String("v"), ModelName: aws.String("m"), InitialInstanceCount: aws.Int32(1), InstanceType: types.ProductionVariantInstanceTypeMlM5Large}}})
	if _, err := c.CreateEndpoint(ctx, &sm.CreateEndpointInput{EndpointName: aws.String("durable"), EndpointConfigName: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	waitInService(t, c, "durable")
	srv.Stop(t)

	srv = servertest.Start(t, servertest.WithDataDir(dir))
	rc := runtimeClient(srv)
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := rc.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("durable"), Body: []byte("0,0,0"), ContentType: aws.String("text/csv")})
		if err == nil {
			if string(out.Body) != "-0.25" {
				t.Fatalf("after restart: %q", out.Body)
			}
			break
		}
		if apiCode(err) != "ServiceUnavailable" || time.Now().After(deadline) {
			t.Fatalf("after restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if de := waitInService(t, srv.SageMaker(), "durable"); de.EndpointStatus != types.EndpointStatusInService {
		t.Fatalf("status %s", de.EndpointStatus)
	}
}

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestDataCaptureOverTheAPI(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	c, rc := srv.SageMaker(), runtimeClient(srv)
	data := putXGBoostModel(t, srv, "m/model.tar.gz")
	c.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String("m"), PrimaryContainer: &types.ContainerDefinition{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(data)}})
	if _, err := c.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{EndpointConfigName: aws.String("c"),
		ProductionVariants: []types.ProductionVariant{{VariantName: aws.String("v"), ModelName: aws.String("m"), InitialInstanceCount: aws.Int32(1), InstanceType: types.ProductionVariantInstanceTypeMlM5Large}},
		DataCaptureConfig: &types.DataCaptureConfig{EnableCapture: aws.Bool(true), InitialSamplingPercentage: aws.Int32(100), DestinationS3Uri: aws.String("s3://capture/dc"),
			CaptureOptions:           []types.CaptureOption{{CaptureMode: types.CaptureModeInput}, {CaptureMode: types.CaptureModeOutput}},
			CaptureContentTypeHeader: &types.CaptureContentTypeHeader{CsvContentTypes: []string{"text/csv"}}}}); err != nil {
		t.Fatal(err)
	}
	c.CreateEndpoint(ctx, &sm.CreateEndpointInput{EndpointName: aws.String("cap"), EndpointConfigName: aws.String("c")})
	if de := waitInService(t, c, "cap"); de.DataCaptureConfig == nil || de.DataCaptureConfig.CaptureStatus != types.CaptureStatusStarted {
		t.Fatalf("DataCaptureConfig: %+v", de.DataCaptureConfig)
	}
	for range 3 {
		if _, err := rc.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("cap"), Body: []byte("1,1,1"), ContentType: aws.String("text/csv")}); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	deadline := time.Now().Add(20 * time.Second)
	for len(keys) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		srv.Blob().List(ctx, blob.MustParseURI("s3://capture/dc/cap/v/"), func(o blob.ObjectInfo) error {
			keys = append(keys, o.URI.Key)
			return nil
		})
	}
	if len(keys) == 0 {
		t.Fatal("no capture file was written")
	}
}
