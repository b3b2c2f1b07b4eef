package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/cli"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// jobsServerForCLI starts a server and points the CLI (run in-process) at it through the environment.
func jobsServerForCLI(t *testing.T) *servertest.Server {
	t.Helper()
	srv := servertest.Start(t, func(c *config.Config) { c.Jobs.Images = map[string]string{"test/sh": "/bin/sh -c"} })
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return srv
}

// sluice runs the CLI and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := cli.Run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCpAndLs(t *testing.T) {
	jobsServerForCLI(t)
	src := writeTree(t, map[string]string{"a.csv": "1,2\n", "sub/b.csv": "3,4\n", "sub/deeper/c.txt": "c"})

	mustCLI(t, "cp", src, "s3://art/data")
	mustCLI(t, "cp", filepath.Join(src, "a.csv"), "s3://art/single/")
	cases := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"one level", []string{"ls", "s3://art/data/"}, []string{"a.csv", "PRE sub/"}, []string{"deeper", "b.csv"}},
		{"recursive", []string{"ls", "-r", "s3://art/data"}, []string{"data/a.csv", "data/sub/b.csv", "data/sub/deeper/c.txt"}, nil},
		{"bucket root", []string{"ls", "s3://art"}, []string{"PRE data/", "PRE single/"}, nil},
		{"file to a prefix keeps its name", []string{"ls", "s3://art/single/"}, []string{"a.csv"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := mustCLI(t, c.args...)
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, n := range c.not {
				if strings.Contains(out, n) {
					t.Errorf("output has %q:\n%s", n, out)
				}
			}
		})
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "ls", "-r", "-o", "json", "s3://art/data")), &listed); err != nil || len(listed) != 3 {
		t.Errorf("ls -o json: %v %v", listed, err)
	}

	dst := filepath.Join(t.TempDir(), "back")
	mustCLI(t, "cp", "s3://art/data", dst)
	for name, want := range map[string]string{"a.csv": "1,2\n", "sub/b.csv": "3,4\n", "sub/deeper/c.txt": "c"} {
		b, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name)))
		if err != nil || string(b) != want {
			t.Errorf("downloaded %s = %q, %v", name, b, err)
		}
	}
	one := filepath.Join(t.TempDir(), "one.csv")
	mustCLI(t, "cp", "s3://art/data/sub/b.csv", one)
	if b, _ := os.ReadFile(one); string(b) != "3,4\n" {
		t.Errorf("single object download = %q", b)
	}

	bad := []struct {
		name string
		args []string
		want string
	}{
		{"missing object", []string{"cp", "s3://art/nothing/here.csv", t.TempDir()}, "no objects under the prefix"},
		{"two local paths", []string{"cp", src, t.TempDir()}, "exactly one of SRC and DST"},
		{"bad bucket", []string{"ls", "s3://Bad_Bucket"}, "bucket name"},
		{"missing bucket", []string{"ls", "s3://no-such-bucket"}, "does not exist"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCLI(t, c.args...)
			if code == 0 || !strings.Contains(errs, c.want) {
				t.Errorf("exit %d, stderr %q (stdout %q), want failure mentioning %q", code, errs, out, c.want)
			}
		})
	}
}

func TestJobsCommands(t *testing.T) {
	srv := jobsServerForCLI(t)
	c := srv.SageMaker()
	ctx := context.Background()
	_, err := c.CreateProcessingJob(ctx, &sm.CreateProcessingJobInput{
		ProcessingJobName: aws.String("talker"),
		RoleArn:           aws.String("arn:aws:iam::000000000000:role/r"),
		AppSpecification:  &types.AppSpecification{ImageUri: aws.String("test/sh"), ContainerArguments: []string{"for i in 1 2 3; do echo step $i; sleep 0.1; done"}},
		ProcessingResources: &types.ProcessingResources{ClusterConfig: &types.ProcessingClusterConfig{
			InstanceCount: aws.Int32(1), InstanceType: types.ProcessingInstanceTypeMlM5Large, VolumeSizeInGB: aws.Int32(1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := mustCLI(t, "jobs", "logs", "-f", "talker")
	if !strings.Contains(logs, "step 1\nstep 2\nstep 3\n") {
		t.Errorf("followed log:\n%s", logs)
	}
	list := mustCLI(t, "jobs", "list")
	if !strings.Contains(list, "talker") || !strings.Contains(list, "Completed") || !strings.Contains(list, "processing") {
		t.Errorf("list:\n%s", list)
	}
	var described map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "jobs", "describe", "-o", "json", "talker")), &described); err != nil ||
		described["ProcessingJobStatus"] != "Completed" || described["ResultMetadata"] != nil {
		t.Errorf("describe -o json: %v %v", described, err)
	}
	if out := mustCLI(t, "jobs", "describe", "talker"); !strings.Contains(out, "Status:") || !strings.Contains(out, "Completed") {
		t.Errorf("describe:\n%s", out)
	}

	_, err = c.CreateTrainingJob(ctx, &sm.CreateTrainingJobInput{
		TrainingJobName:        aws.String("sleeper"),
		RoleArn:                aws.String("arn:aws:iam::000000000000:role/r"),
		AlgorithmSpecification: &types.AlgorithmSpecification{TrainingImage: aws.String("test/sh"), TrainingInputMode: types.TrainingInputModeFile, ContainerArguments: []string{"echo started; sleep 60"}},
		OutputDataConfig:       &types.OutputDataConfig{S3OutputPath: aws.String("s3://models/out")},
		ResourceConfig:         &types.ResourceConfig{InstanceType: types.TrainingInstanceTypeMlM5Large, InstanceCount: aws.Int32(1), VolumeSizeInGB: aws.Int32(1)},
		StoppingCondition:      &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(300)},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(mustCLI(t, "jobs", "logs", "sleeper"), "started") {
		if time.Now().After(deadline) {
			t.Fatal("the training job never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, errs := runCLI(t, "jobs", "stop", "sleeper"); !strings.Contains(errs, "Stopping training job sleeper") {
		t.Errorf("stop said %q", errs)
	}
	mustCLI(t, "jobs", "logs", "-f", "sleeper") // returns once the job has ended
	if out := mustCLI(t, "jobs", "list", "--kind", "training", "--status", "Stopped"); !strings.Contains(out, "sleeper") {
		t.Errorf("stopped job not listed:\n%s", out)
	}
	for _, args := range [][]string{{"jobs", "describe", "ghost"}, {"jobs", "logs", "ghost"}, {"jobs", "list", "--kind", "batch"}} {
		if code, _, errs := runCLI(t, args...); code == 0 || errs == "" {
			t.Errorf("sluice %v: exit %d, stderr %q", args, code, errs)
		}
	}
}
