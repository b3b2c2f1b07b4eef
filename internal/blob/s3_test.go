package blob

import (
	"context"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// SLUICE_TEST_S3 points the S3 tests at a real S3-compatible server:
//
//	SLUICE_TEST_S3=http://ACCESS_KEY:SECRET_KEY@127.0.0.1:7070[?region=us-east-1]
//
// Each test creates its own bucket (sluice-test-…) and removes it afterwards. scripts/s3test.sh
// starts versitygw and sets the variable.
func s3ConfigFromEnv(tb testing.TB) (S3Config, bool) {
	tb.Helper()
	raw := os.Getenv("SLUICE_TEST_S3")
	if raw == "" {
		return S3Config{}, false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || u.Host == "" {
		tb.Fatalf("SLUICE_TEST_S3 must look like http://ACCESS:SECRET@host:port, got %q", raw)
	}
	secret, _ := u.User.Password()
	return S3Config{
		Endpoint:  u.Scheme + "://" + u.Host,
		Region:    u.Query().Get("region"),
		AccessKey: u.User.Username(),
		SecretKey: secret,
		PathStyle: true,
	}, true
}

func openS3ForTest(tb testing.TB, cfg S3Config) (Store, string) {
	tb.Helper()
	s, err := NewS3(tb.Context(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	bucket := "sluice-test-" + randomHex()[:16]
	if err := s.EnsureBucket(tb.Context(), bucket); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// tb.Context is already cancelled during cleanup.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for oi := range s.client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if oi.Err != nil {
				tb.Errorf("cleanup list: %v", oi.Err)
				return
			}
			if err := s.client.RemoveObject(ctx, bucket, oi.Key, minio.RemoveObjectOptions{}); err != nil {
				tb.Errorf("cleanup: %v", err)
			}
		}
		if err := s.client.RemoveBucket(ctx, bucket); err != nil {
			tb.Errorf("cleanup: %v", err)
		}
	})
	return s, bucket
}

func requireS3(t *testing.T) (*S3, string) {
	t.Helper()
	cfg, ok := s3ConfigFromEnv(t)
	if !ok {
		t.Skip("SKIPPED: SLUICE_TEST_S3 is not set; run scripts/s3test.sh to test against a real S3 server")
	}
	s, b := openS3ForTest(t, cfg)
	return s.(*S3), b
}

// Objects written by other tools may have keys that no URI can address; List must skip them
// rather than hand out paths that escape a download folder.
func TestS3ListSkipsUnaddressableKeys(t *testing.T) {
	s, b := requireS3(t)
	ctx := t.Context()
	for _, k := range []string{"ok/a", "ok/../../escape", "ok//double", "ok/folder/", "ok/b"} {
		data := "x"
		if strings.HasSuffix(k, "/") {
			data = "" // folder markers are empty
		}
		if _, err := s.client.PutObject(ctx, b, k, strings.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			// Some servers (versitygw's posix backend) refuse or normalise such keys themselves.
			t.Logf("the server refused key %q: %v", k, err)
		}
	}
	var raw, want []string
	for oi := range s.client.ListObjects(ctx, b, minio.ListObjectsOptions{Prefix: "ok/", Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		raw = append(raw, oi.Key)
		if !strings.HasSuffix(oi.Key, "/") && validKey(oi.Key) == nil {
			want = append(want, oi.Key)
		}
	}
	if !slices.Contains(raw, "ok/folder/") {
		t.Fatalf("the server did not keep the folder marker; raw listing %q", raw)
	}
	got := listKeys(t, s, URI{Bucket: b, Key: "ok/"})
	if !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q (raw listing %q)", got, want, raw)
	}
	for _, k := range got {
		if k == "ok/folder/" || strings.Contains(k, "..") || strings.Contains(k, "//") {
			t.Fatalf("List reported unaddressable key %q", k)
		}
	}
}

func TestS3EnsureBucketIsIdempotent(t *testing.T) {
	s, b := requireS3(t)
	for range 2 {
		if err := s.EnsureBucket(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestS3ConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     S3Config
		wantErr string
	}{
		{name: "http endpoint", cfg: S3Config{Endpoint: "http://127.0.0.1:7070", AccessKey: "a", SecretKey: "s"}},
		{name: "bare host is https", cfg: S3Config{Endpoint: "s3.us-east-1.amazonaws.com"}},
		{name: "trailing slash", cfg: S3Config{Endpoint: "https://minio.example:9000/"}},
		{name: "missing endpoint", cfg: S3Config{}, wantErr: "Endpoint is required"},
		{name: "bad scheme", cfg: S3Config{Endpoint: "ftp://host"}, wantErr: "scheme must be http or https"},
		{name: "path in endpoint", cfg: S3Config{Endpoint: "http://host/bucket"}, wantErr: "without path"},
		{name: "credentials in endpoint", cfg: S3Config{Endpoint: "http://a:b@host"}, wantErr: "without path, query or credentials"},
		{name: "half credentials", cfg: S3Config{Endpoint: "http://host", AccessKey: "a"}, wantErr: "set together"},
		{name: "small part size", cfg: S3Config{Endpoint: "http://host", PartSize: 1 << 20}, wantErr: "5 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := NewS3(t.Context(), tt.cfg); err != nil {
					t.Fatalf("NewS3: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
