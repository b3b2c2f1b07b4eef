package server_test

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
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/smithy-go"

	"github.com/sluice-ml/sluice/internal/server/servertest"
)

func client(srv *servertest.Server, key, secret string) *sagemaker.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")}
	return sagemaker.NewFromConfig(cfg, func(o *sagemaker.Options) {
		o.BaseEndpoint = aws.String(srv.URL())
		o.RetryMaxAttempts = 1
	})
}

func code(err error) string {
	var ae smithy.APIError
	if err == nil {
		return ""
	}
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return err.Error()
}

// Every control-plane request is authenticated, and each way of failing gets AWS's error type.
func TestAuthentication(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	in := &sagemaker.ListModelPackageGroupsInput{}

	if _, err := srv.SageMaker().ListModelPackageGroups(ctx, in); err != nil {
		t.Fatalf("root key refused: %v", err)
	}
	if _, err := client(srv, srv.AccessKey, "wrong-secret").ListModelPackageGroups(ctx, in); code(err) != "InvalidSignatureException" {
		t.Errorf("wrong secret: got %v, want InvalidSignatureException", err)
	}
	if _, err := client(srv, "AKSLUNKNOWNKEY000000", "x").ListModelPackageGroups(ctx, in); code(err) != "UnrecognizedClientException" {
		t.Errorf("unknown key: got %v, want UnrecognizedClientException", err)
	}

	// Unsigned.
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "SageMaker.ListModelPackageGroups")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 403 || body.Type != "MissingAuthenticationTokenException" || resp.Header.Get("X-Amzn-ErrorType") != body.Type {
		t.Errorf("unsigned: %d %+v", resp.StatusCode, body)
	}
}

// A request signed more than 15 minutes away from the server's clock is refused as expired.
func TestClockSkew(t *testing.T) {
	srv := servertest.Start(t)
	for _, tc := range []struct {
		name string
		skew time.Duration
		want int
	}{
		{"now", 0, 200},
		{"ten minutes late", -10 * time.Minute, 200},
		{"twenty minutes late", -20 * time.Minute, 403},
		{"twenty minutes early", 20 * time.Minute, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte("{}")
			req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/", bytes.NewReader(body))
			req.Header.Set("X-Amz-Target", "SageMaker.ListModelPackageGroups")
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			sum := sha256.Sum256(body)
			creds := aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: srv.Secret}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sagemaker", "us-east-1", time.Now().Add(tc.skew)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if tc.want == 403 && !strings.Contains(string(b), "Signature expired") {
				t.Errorf("expired request answered %s", b)
			}
		})
	}
}

// The first start writes an AWS profile a client can use as it is; a second start keeps the key.
func TestProfileFiles(t *testing.T) {
	dir := t.TempDir()
	srv := servertest.Start(t, servertest.WithDataDir(dir))
	creds, err := os.ReadFile(filepath.Join(dir, "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "config"))
	if !strings.Contains(string(creds), srv.AccessKey) || !strings.Contains(string(creds), srv.Secret) {
		t.Errorf("credentials file lacks the root key:\n%s", creds)
	}
	if !strings.Contains(string(conf), "endpoint_url = "+srv.URL()) {
		t.Errorf("config file lacks endpoint_url %s:\n%s", srv.URL(), conf)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "credentials")); fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials mode %v, want 0600", fi.Mode().Perm())
	}
	first := srv.AccessKey
	srv.Stop(t)
	again := servertest.Start(t, servertest.WithDataDir(dir))
	if again.AccessKey != first {
		t.Errorf("restart created a new root key %s (was %s)", again.AccessKey, first)
	}
}

// Health, readiness and metrics answer without credentials; metrics count operations.
func TestHealthAndMetrics(t *testing.T) {
	srv := servertest.Start(t)
	srv.SageMaker().ListModelPackageGroups(context.Background(), &sagemaker.ListModelPackageGroupsInput{})
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ready",
		"/metrics": `sluice_api_requests_total{code="OK",operation="ListModelPackageGroups"} 1`,
	} {
		resp, err := http.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s = %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
}

// An operation the server does not implement is UnknownOperationException, not a crash.
func TestUnknownOperation(t *testing.T) {
	srv := servertest.Start(t)
	_, err := srv.SageMaker().ListNotebookInstances(context.Background(), &sagemaker.ListNotebookInstancesInput{})
	if got := code(err); got != "UnknownOperationException" {
		t.Fatalf("got %q (%v)", got, err)
	}
}

// A body swapped after signing is refused even when the signature itself checks out, because the
// signed X-Amz-Content-Sha256 no longer matches it.
func TestSwappedBodyIsRefused(t *testing.T) {
	srv := servertest.Start(t)
	signed := []byte(`{"ModelPackageGroupName":"harmless"}`)
	sent := []byte(`{"ModelPackageGroupName":"swapped"}`)
	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{{"as signed", signed, 200}, {"swapped", sent, 403}} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/", bytes.NewReader(tc.body))
			req.Header.Set("X-Amz-Target", "SageMaker.CreateModelPackageGroup")
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			sum := sha256.Sum256(signed)
			req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			creds := aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: srv.Secret}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sagemaker", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
		})
	}
	if _, err := srv.SageMaker().DescribeModelPackageGroup(context.Background(), &sagemaker.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String("swapped")}); err == nil {
		t.Fatal("the swapped request created its group")
	}
}
