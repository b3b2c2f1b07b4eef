package promotion_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	smr "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"

	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// TestDeployPipelineRemoteProcess promotes from staging on an in-process server to prod on a
// sluice server running as a separate OS process, started from the built binary with its own
// data directory and port: only the network and the root key connect the two.
func TestDeployPipelineRemoteProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED: -short: the remote-process test builds the sluice binary and runs it as a second server")
	}
	ctx := context.Background()
	bin := buildSluice(t)
	prod := startProcess(t, bin)
	build := servertest.Start(t)

	sluice(t, build, "envs", "create", "testdata/staging.yaml", "--name", "staging")
	cfg := map[string]any{"EndpointName": "churn-prod", "Variant": map[string]any{"InstanceCount": 2},
		"Remote": map[string]any{"Url": prod.URL, "AccessKeyId": prod.AccessKey, "SecretAccessKey": prod.Secret, "Region": prod.Region}}
	b, _ := json.Marshal(cfg)
	file := filepath.Join(t.TempDir(), "prod-config.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := sluice(t, build, "envs", "create", file); !strings.Contains(out, "environment prod created (remote "+prod.URL) {
		t.Fatalf("envs create: %s", out)
	}

	v1 := register(t, build, "churn", types.ModelApprovalStatusApproved, false)
	if _, err := build.SageMaker().CreatePipeline(ctx, &sm.CreatePipelineInput{PipelineName: aws.String("churn-deploy"),
		PipelineDefinition: aws.String(remoteDeployPipeline), RoleArn: aws.String("arn:aws:iam::000000000000:role/deploy")}); err != nil {
		t.Fatal(err)
	}
	exec := start(t, build, "churn-deploy", v1)
	gate := pendingApproval(t, build, exec)
	sluice(t, build, "approvals", "approve", gate, "--comment", "ship it")
	if st, why := waitExecution(t, build, exec); st != "Succeeded" {
		t.Fatalf("execution: %s: %s\n%s\nprod server log:\n%s", st, why, stepsOf(t, build, exec), prod.log())
	}

	// The process holds the model and an InService endpoint, and answers through the SDK.
	m, err := prod.SageMaker().DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String("churn-v1")})
	if err != nil || aws.ToString(m.PrimaryContainer.ModelDataUrl) != "s3://models/churn/v1/model.tar.gz" {
		t.Fatalf("remote model: %+v, %v", m, err)
	}
	ep, err := prod.SageMaker().DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("churn-prod")})
	if err != nil || ep.EndpointStatus != types.EndpointStatusInService {
		t.Fatalf("remote endpoint: %+v, %v", ep, err)
	}
	for body, want := range map[string]string{"1,1,1": "1.75", "0,3,0": "-0.75"} {
		out, err := prod.Runtime().InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("churn-prod"),
			ContentType: aws.String("text/csv"), Body: []byte(body)})
		if err != nil {
			t.Fatalf("invoke the remote prod with %s: %v", body, err)
		}
		if got := strings.TrimSpace(string(out.Body)); got != want {
			t.Fatalf("remote prod answers %q to %s, want %q", got, body, want)
		}
	}

	// Nothing of prod was created on the build server.
	if _, err := build.SageMaker().DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("churn-prod")}); err == nil {
		t.Fatalf("prod was deployed on the build server too")
	}
	if l, err := build.SageMaker().ListEndpointConfigs(ctx, &sm.ListEndpointConfigsInput{NameContains: aws.String("churn-prod")}); err != nil || len(l.EndpointConfigs) != 0 {
		t.Fatalf("endpoint configs for prod on the build server: %+v, %v", l, err)
	}
	p := releases(t, build)
	if p["prod"].Kind != "remote" || p["prod"].Live == nil || p["prod"].Live.ModelPackageArn != v1 || p["prod"].Live.ApprovalComment != "ship it" {
		t.Fatalf("releases: %+v", p["prod"])
	}
}

// processServer is a sluice server running as a separate OS process.
type processServer struct {
	URL, Region, AccessKey, Secret string
	logFile                        string
}

func (s *processServer) aws() aws.Config {
	return aws.Config{Region: s.Region, Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.Secret, "")}
}

// SageMaker returns a SageMaker client signed with the process's root key.
func (s *processServer) SageMaker() *sm.Client {
	return sm.NewFromConfig(s.aws(), func(o *sm.Options) { o.BaseEndpoint = aws.String(s.URL); o.RetryMaxAttempts = 1 })
}

// Runtime returns a SageMaker Runtime client signed with the process's root key.
func (s *processServer) Runtime() *smr.Client {
	return smr.NewFromConfig(s.aws(), func(o *smr.Options) { o.BaseEndpoint = aws.String(s.URL); o.RetryMaxAttempts = 1 })
}

func (s *processServer) log() string {
	b, _ := os.ReadFile(s.logFile)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// buildSluice builds cmd/sluice from the module root into a temporary directory.
func buildSluice(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs `sluice server` as a child process on a free loopback port with a fresh data
// directory, waits until it is ready, and stops it with SIGTERM when the test ends.
func startProcess(t *testing.T, bin string) *processServer {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := tryStartProcess(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("start the sluice server process: %v", lastErr)
	return nil
}

func tryStartProcess(t *testing.T, bin string) (*processServer, error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()

	home := t.TempDir()
	s := &processServer{URL: "http://" + addr, logFile: filepath.Join(home, "server.log")}
	logf, err := os.Create(s.logFile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "server", "--home", home, "--listen", addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "SLUICE_LOG_LEVEL=info")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second // then SIGKILL
	if err := cmd.Start(); err != nil {
		cancel()
		logf.Close()
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	stop := func() {
		cancel()
		<-exited
	}

	// Ready: /readyz answers 200, unless the process dies first.
	deadline := time.Now().Add(20 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			cancel()
			return nil, fmt.Errorf("the server exited early (%v):\n%s", cmd.ProcessState, s.log())
		default:
		}
		if resp, err := hc.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("%s/readyz did not answer 200 within 20s:\n%s", s.URL, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		start := time.Now()
		stop()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			t.Errorf("the server process ignored SIGTERM for %s and was killed:\n%s", time.Since(start).Round(time.Second), s.log())
		} else if !cmd.ProcessState.Success() {
			t.Errorf("the server process stopped with %v:\n%s", cmd.ProcessState, s.log())
		}
		if t.Failed() {
			t.Logf("prod server log:\n%s", s.log())
		}
	})

	var err2 error
	s.AccessKey, s.Secret, err2 = readCredentials(filepath.Join(home, "credentials"))
	if err2 != nil {
		return nil, err2
	}
	s.Region = iniValue(filepath.Join(home, "config"), "region")
	if s.Region == "" {
		return nil, errors.New("no region in the server's AWS config profile")
	}
	return s, nil
}

// readCredentials reads the root key from the AWS credentials file the server writes.
func readCredentials(path string) (string, string, error) {
	id, secret := iniValue(path, "aws_access_key_id"), iniValue(path, "aws_secret_access_key")
	if id == "" || secret == "" {
		b, _ := os.ReadFile(path)
		return "", "", fmt.Errorf("no root key in %s: %q", path, b)
	}
	return id, secret, nil
}

// iniValue returns key's value in the sluice profile section of an AWS ini file.
func iniValue(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			sec := strings.Trim(line, "[]")
			in = sec == "sluice" || sec == "profile sluice"
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && in && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
