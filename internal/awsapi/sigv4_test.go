package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

type oneKey struct{}

func (oneKey) LookupKey(ctx context.Context, id string) (string, Principal, error) {
	if id != "AKIDTEST" {
		return "", Principal{}, ErrUnknownKey
	}
	return "s3cr3t", Principal{AccessKeyID: id, Name: "test"}, nil
}

// Requests signed by the AWS SDK verify, whatever the path, query and header values look like,
// and the signing-key cache gives the same answers on every try.
func TestVerifierAcceptsSDKSignatures(t *testing.T) {
	v := &Verifier{Keys: oneKey{}, Services: []string{"sagemaker"}}
	tests := []struct {
		name, url string
		headers   map[string]string
		body      string
		sendHash  bool
		tamper    func(r *http.Request)
		wantErr   bool
	}{
		{"plain path", "http://h/endpoints/ep/invocations", map[string]string{"Content-Type": "text/csv"}, "1,2", false, nil, false},
		{"escaped path", "http://h/endpoints/a%20b/invocations", nil, "x", false, nil, false},
		{"query", "http://h/api/v1/objects/b?prefix=a%2Fb%2F&limit=10", nil, "", true, nil, false},
		{"header with spaces", "http://h/", map[string]string{"X-Amz-Target": "SageMaker.ListModels", "X-Amz-Meta-Note": "a  b "}, "{}", false, nil, false},
		{"hash header", "http://h/", map[string]string{"Content-Type": "application/json"}, "{}", true, nil, false},
		{"tampered header", "http://h/", map[string]string{"X-Amz-Target": "SageMaker.ListModels"}, "{}", false,
			func(r *http.Request) { r.Header.Set("X-Amz-Target", "SageMaker.DeleteModel") }, true},
		{"tampered path", "http://h/endpoints/a/invocations", nil, "", false, func(r *http.Request) { r.URL.Path = "/endpoints/b/invocations" }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				req, _ := http.NewRequest(http.MethodPost, tc.url, strings.NewReader(tc.body))
				for k, val := range tc.headers {
					req.Header.Set(k, val)
				}
				sum := sha256.Sum256([]byte(tc.body))
				h := hex.EncodeToString(sum[:])
				if tc.sendHash {
					req.Header.Set("X-Amz-Content-Sha256", h)
				}
				creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "s3cr3t"}
				if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, h, "sagemaker", "us-east-1", time.Now()); err != nil {
					t.Fatal(err)
				}
				if tc.tamper != nil {
					tc.tamper(req)
				}
				_, err := v.Verify(req)
				if (err != nil) != tc.wantErr {
					t.Fatalf("Verify: %v, want error %v", err, tc.wantErr)
				}
			}
		})
	}
}
