// Package servertest starts a real Sluice server inside a test, on a free loopback port with a
// fresh data directory, and hands out clients signed with its root key.
package servertest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server"
)

// Server is a running test server.
type Server struct {
	*server.Server
	// DataDir is the server's data directory.
	DataDir string
	// Config is the configuration it was started with.
	Config config.Config
	// AccessKey and Secret are the root key.
	AccessKey, Secret string

	cancel context.CancelFunc
	done   chan error
}

// Option adjusts the configuration before the server starts.
type Option func(*config.Config)

// WithDatabase runs the server on a specific database DSN.
func WithDatabase(dsn string) Option { return func(c *config.Config) { c.Database = dsn } }

// WithDataDir reuses a data directory, to test a restart.
func WithDataDir(dir string) Option { return func(c *config.Config) { c.DataDir = dir } }

// Start starts a server that stops when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogLevel = "warn"
	if py := os.Getenv("SLUICE_TEST_PYTHON"); py != "" {
		// SageMaker framework images (jobs and model servers) run on the suite's interpreter.
		cfg.Jobs.Python = py
	}
	for _, o := range opts {
		o(&cfg)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	s := &Server{Server: srv, DataDir: cfg.DataDir, Config: cfg, cancel: cancel, done: make(chan error, 1)}
	keys, err := srv.Store().AccessKeys(ctx)
	if err != nil || len(keys) == 0 {
		t.Fatalf("root key: %v", err)
	}
	s.AccessKey, s.Secret = keys[0].AccessKeyID, keys[0].Secret
	go func() { s.done <- srv.Run(ctx) }()
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop shuts the server down and waits for it; calling it twice is fine.
func (s *Server) Stop(t testing.TB) {
	s.cancel()
	select {
	case err, ok := <-s.done:
		if !ok {
			return // stopped already
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("server stopped with error: %v", err)
		}
		close(s.done)
	case <-time.After(30 * time.Second):
		t.Errorf("server did not stop within 30s")
	}
}

// AWS returns an AWS SDK configuration signed with the root key.
func (s *Server) AWS() aws.Config {
	return aws.Config{
		Region:      s.Config.Region,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.Secret, ""),
	}
}

// SageMaker returns a SageMaker client pointed at the server.
func (s *Server) SageMaker() *sagemaker.Client {
	return sagemaker.NewFromConfig(s.AWS(), func(o *sagemaker.Options) {
		o.BaseEndpoint = aws.String(s.URL())
		o.RetryMaxAttempts = 1
	})
}

// Env returns environment variables that point AWS tools (boto3, the AWS CLI) and the sluice
// CLI at this server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.Secret,
		"AWS_DEFAULT_REGION=" + s.Config.Region,
		"AWS_REGION=" + s.Config.Region,
		"AWS_ENDPOINT_URL=" + s.URL(),
		"AWS_ENDPOINT_URL_SAGEMAKER=" + s.URL(),
		"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=" + s.URL(),
		"AWS_CONFIG_FILE=" + filepath.Join(s.DataDir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(s.DataDir, "credentials"),
		"SLUICE_HOME=" + s.DataDir,
		"SLUICE_ENDPOINT=" + s.URL(),
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// Python returns the interpreter for the real-client suites, from SLUICE_TEST_PYTHON, and skips
// the test loudly when it is unset.
func Python(t testing.TB) string {
	t.Helper()
	py := os.Getenv("SLUICE_TEST_PYTHON")
	if py == "" {
		t.Skip("SKIPPED: real-client suite not run; set SLUICE_TEST_PYTHON=/usr/bin/python3 (with Debian's python3-boto3, python3-xgboost, python3-pandas, python3-sklearn) to run it")
	}
	return py
}
