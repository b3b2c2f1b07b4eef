package native_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// send signs a request with payloadHash (the digest it declares) and returns status and body.
func send(t *testing.T, srv *servertest.Server, method, path, body, payloadHash string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if payloadHash == "" {
		sum := sha256.Sum256([]byte(body))
		payloadHash = hex.EncodeToString(sum[:])
	}
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	creds, _ := srv.AWS().Credentials.Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, "sagemaker", srv.Config.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestObjectsAPI(t *testing.T) {
	srv := servertest.Start(t)
	key := "/api/v1/objects/art/dir/" + url.PathEscape("name with spaces & ü.txt")
	if code, body := send(t, srv, "PUT", key, "hello", ""); code != 200 || !strings.Contains(body, `"size":5`) {
		t.Fatalf("put: %d %s", code, body)
	}
	if code, body := send(t, srv, "GET", key, "", ""); code != 200 || body != "hello" {
		t.Errorf("get: %d %q", code, body)
	}
	// A body that is not the one signed for is refused and the object is kept.
	sum := sha256.Sum256([]byte("expected"))
	if code, body := send(t, srv, "PUT", key, "tampered", hex.EncodeToString(sum[:])); code != 400 || !strings.Contains(body, "does not match") {
		t.Errorf("tampered put: %d %s", code, body)
	}
	if _, body := send(t, srv, "GET", key, "", ""); body != "hello" {
		t.Errorf("after a refused put the object is %q", body)
	}
	for i := range 5 {
		send(t, srv, "PUT", fmt.Sprintf("/api/v1/objects/art/many/%d", i), "x", "UNSIGNED-PAYLOAD")
	}
	var keys []string
	after := ""
	for pages := 0; ; pages++ {
		code, body := send(t, srv, "GET", "/api/v1/objects/art?prefix=many/&limit=2&after="+url.QueryEscape(after), "", "")
		var page struct {
			Objects []struct{ Key string } `json:"objects"`
			Next    string                 `json:"next"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &page) != nil {
			t.Fatalf("list: %d %s", code, body)
		}
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		if page.Next == "" || pages > 5 {
			break
		}
		after = page.Next
	}
	if strings.Join(keys, ",") != "many/0,many/1,many/2,many/3,many/4" {
		t.Errorf("paged list: %v", keys)
	}
	cases := []struct {
		name, method, path string
		want               int
		body               string
	}{
		{"missing object", "GET", "/api/v1/objects/art/nope", 404, "NotFound"},
		{"missing bucket", "GET", "/api/v1/objects/no-bucket?prefix=x", 404, "NotFound"},
		{"bad bucket", "GET", "/api/v1/objects/Bad_Bucket/k", 400, "bucket name"},
		{"dot segment", "PUT", "/api/v1/objects/art/a/%2E%2E/b", 400, "segment"},
		{"prefix is not an object", "GET", "/api/v1/objects/art/dir/", 400, "names a prefix"},
		{"delete", "DELETE", "/api/v1/objects/art/many/0", 200, "deleted"},
		{"deleted", "GET", "/api/v1/objects/art/many/0", 404, "NotFound"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := send(t, srv, c.method, c.path, "", "")
			if code != c.want || !strings.Contains(body, c.body) {
				t.Errorf("%s %s: %d %s, want %d with %q", c.method, c.path, code, body, c.want, c.body)
			}
		})
	}
	req, _ := http.NewRequest("GET", srv.URL()+key, nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("unsigned request: %d", resp.StatusCode)
		}
	}
}

func TestJobLogsEndpoint(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) { c.Jobs.Images = map[string]string{"test/sh": "/bin/sh -c"} })
	c := srv.SageMaker()
	ctx := context.Background()
	res := &types.ProcessingResources{ClusterConfig: &types.ProcessingClusterConfig{InstanceCount: aws.Int32(1), InstanceType: types.ProcessingInstanceTypeMlM5Large, VolumeSizeInGB: aws.Int32(1)}}
	for _, name := range []string{"twin", "solo"} {
		_, err := c.CreateProcessingJob(ctx, &sm.CreateProcessingJobInput{
			ProcessingJobName: aws.String(name), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), ProcessingResources: res,
			AppSpecification: &types.AppSpecification{ImageUri: aws.String("test/sh"), ContainerArguments: []string{"echo processing " + name + "; sleep 0.2; echo done"}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.CreateTrainingJob(ctx, &sm.CreateTrainingJobInput{
		TrainingJobName: aws.String("twin"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
		AlgorithmSpecification: &types.AlgorithmSpecification{TrainingImage: aws.String("test/sh"), TrainingInputMode: types.TrainingInputModeFile, ContainerArguments: []string{"echo training twin"}},
		OutputDataConfig:       &types.OutputDataConfig{S3OutputPath: aws.String("s3://models/out")},
		ResourceConfig:         &types.ResourceConfig{InstanceType: types.TrainingInstanceTypeMlM5Large, InstanceCount: aws.Int32(1), VolumeSizeInGB: aws.Int32(1)},
		StoppingCondition:      &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(60)},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		want       int
		body       string
	}{
		{"follow to the end", "/api/v1/jobs/solo/logs?follow=1", 200, "processing solo\ndone\n"},
		{"from an offset", "/api/v1/jobs/solo/logs?offset=11", 200, "solo\ndone\n"},
		{"ambiguous name", "/api/v1/jobs/twin/logs", 400, "pass kind=processing or kind=training"},
		{"kind picks one", "/api/v1/jobs/twin/logs?kind=training&follow=1", 200, "training twin"},
		{"missing job", "/api/v1/jobs/ghost/logs", 404, "no processing or training job"},
		{"bad follow", "/api/v1/jobs/solo/logs?follow=maybe", 400, "follow"},
	}
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			code, body := send(t, srv, "GET", cs.path, "", "")
			if code != cs.want || !strings.Contains(body, cs.body) {
				t.Errorf("%d %q, want %d with %q", code, body, cs.want, cs.body)
			}
		})
	}
}
