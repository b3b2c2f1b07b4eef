package runtime_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	smr "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/aws/smithy-go"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// serve starts a server with one InService endpoint "ep" (variant "v") running a two-tree
// XGBoost model with three features.
func serve(t testing.TB) *servertest.Server {
	t.Helper()
	srv := servertest.Start(t)
	tree := func(feat int32, cond, left, right float32) xgboost.Tree {
		return xgboost.Tree{LeftChildren: []int32{1, xgboost.NoChild, xgboost.NoChild}, RightChildren: []int32{2, xgboost.NoChild, xgboost.NoChild},
			SplitIndices: []int32{feat, 0, 0}, SplitConditions: []float32{cond, left, right}, DefaultLeft: []bool{true, false, false}}
	}
	m := &xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: 3, Trees: []xgboost.Tree{tree(0, 0.5, -1, 1), tree(1, 2, 0.25, -0.25)}}
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, "xgboost-model"))
	m.WriteJSON(f)
	f.Close()
	var buf bytes.Buffer
	blob.PackDir(dir, &buf)
	ctx := context.Background()
	u := blob.MustParseURI("s3://models/m/model.tar.gz")
	blob.EnsureBucket(ctx, srv.Blob(), u.Bucket)
	if err := srv.Blob().Put(ctx, u, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	c := srv.SageMaker()
	if _, err := c.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String("m"), PrimaryContainer: &types.ContainerDefinition{Image: aws.String("sluice/xgboost"), ModelDataUrl: aws.String(u.String())}}); err != nil {
		t.Fatal(err)
	}
	c.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{EndpointConfigName: aws.String("c"), ProductionVariants: []types.ProductionVariant{
		{VariantName: aws.String("v"), ModelName: aws.String("m"), InitialInstanceCount: aws.Int32(1), InstanceType: types.ProductionVariantInstanceTypeMlM5Large}}})
	c.CreateEndpoint(ctx, &sm.CreateEndpointInput{EndpointName: aws.String("ep"), EndpointConfigName: aws.String("c")})
	w := sm.NewEndpointInServiceWaiter(c, func(o *sm.EndpointInServiceWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("ep")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return srv
}

func signedPost(t *testing.T, srv *servertest.Server, path string, body []byte, headers map[string]string, sign bool) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+path, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if sign {
		sum := sha256.Sum256(body)
		creds, _ := srv.AWS().Credentials.Retrieve(context.Background())
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sagemaker", srv.Config.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func errorOf(t *testing.T, resp *http.Response) (string, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	return resp.Header.Get("X-Amzn-ErrorType"), body
}

func TestInvokeEndpointErrors(t *testing.T) {
	srv := serve(t)
	tests := []struct {
		name     string
		path     string
		body     []byte
		headers  map[string]string
		unsigned bool
		status   int
		code     string
		text     string
	}{
		{"model error", "/endpoints/ep/invocations", []byte("1,2"), map[string]string{"Content-Type": "text/csv"}, false, 424, "ModelError", `Received client error (400) from primary with message "CSV line 1 has 2 features; the model expects 3"`},
		{"unknown endpoint", "/endpoints/nope/invocations", []byte("1,1,1"), nil, false, 400, "ValidationError", "Endpoint nope of account 000000000000 not found."},
		{"unknown variant", "/endpoints/ep/invocations", []byte("1,1,1"), map[string]string{"X-Amzn-SageMaker-Target-Variant": "w"}, false, 400, "ValidationError", `The variant "w" is not part of endpoint ep`},
		{"payload over 6 MB", "/endpoints/ep/invocations", bytes.Repeat([]byte("1"), 6<<20+1), nil, false, 413, "ValidationError", "accepts at most 6291456 bytes"},
		{"custom attributes too long", "/endpoints/ep/invocations", []byte("1,1,1"), map[string]string{"X-Amzn-SageMaker-Custom-Attributes": strings.Repeat("a", 1025)}, false, 400, "ValidationError", "customAttributes"},
		{"unsigned", "/endpoints/ep/invocations", []byte("1,1,1"), nil, true, 403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := signedPost(t, srv, tc.path, tc.body, tc.headers, !tc.unsigned)
			code, body := errorOf(t, resp)
			msg, _ := body["message"].(string)
			if resp.StatusCode != tc.status || code != tc.code || !strings.Contains(msg, tc.text) {
				t.Fatalf("%d %s %v, want %d %s %q", resp.StatusCode, code, body, tc.status, tc.code, tc.text)
			}
			if tc.code == "ModelError" && (body["OriginalStatusCode"] != float64(400) || body["LogStreamArn"] == nil) {
				t.Fatalf("ModelError members: %v", body)
			}
		})
	}

	// A payload changed after signing is refused even though the headers verify.
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/endpoints/ep/invocations", bytes.NewReader([]byte("0,0,0")))
	sum := sha256.Sum256([]byte("1,1,1"))
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	creds, _ := srv.AWS().Credentials.Retrieve(context.Background())
	v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sagemaker", srv.Config.Region, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := errorOf(t, resp); resp.StatusCode != 403 || code != "InvalidSignatureException" {
		t.Fatalf("tampered payload: %d %s %v", resp.StatusCode, code, body)
	}

	// The Go SDK reads the same shapes.
	rc := smr.NewFromConfig(srv.AWS(), func(o *smr.Options) { o.BaseEndpoint = aws.String(srv.URL()); o.RetryMaxAttempts = 1 })
	_, err = rc.InvokeEndpoint(context.Background(), &smr.InvokeEndpointInput{EndpointName: aws.String("ep"), Body: bytes.Repeat([]byte("1"), 6<<20+1), ContentType: aws.String("text/csv")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Fatalf("6 MB payload through the SDK: %v", err)
	}
}

func TestInvocationMetrics(t *testing.T) {
	srv := serve(t)
	for range 5 {
		resp := signedPost(t, srv, "/endpoints/ep/invocations", []byte("1,1,1"), map[string]string{"Content-Type": "text/csv"}, true)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "1.75" || resp.Header.Get("X-Amzn-Invoked-Production-Variant") != "v" {
			t.Fatalf("invoke: %d %q %v", resp.StatusCode, b, resp.Header)
		}
	}
	resp := signedPost(t, srv, "/endpoints/ep/invocations", []byte("1"), map[string]string{"Content-Type": "text/csv"}, true)
	resp.Body.Close()

	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`sluice_endpoint_invocations_total{endpoint="ep",variant="v"} 6`,
		`sluice_endpoint_invocation_4xx_errors_total{endpoint="ep",variant="v"} 1`,
		`sluice_endpoint_model_latency_seconds_count{endpoint="ep",variant="v"} 6`,
		`sluice_endpoint_overhead_latency_seconds_count{endpoint="ep",variant="v"} 6`,
	} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
}
