package pipeline

import (
	"strings"
	"testing"
)

// TestEndpointTestModesAreExclusive: an EndpointTest step sends payloads or runs a processing
// job, and the definition says which.
func TestEndpointTestModesAreExclusive(t *testing.T) {
	job := `"ProcessingJob":{"AppSpecification":{"ImageUri":"tester"},"RoleArn":"arn:aws:iam::000000000000:role/x",
		"ProcessingResources":{"ClusterConfig":{"InstanceCount":1,"InstanceType":"ml.m5.large","VolumeSizeInGB":1}}}`
	cases := []struct {
		name, args, want string
	}{
		{"payloads", `"Payloads":["1,2"]`, ""},
		{"s3", `"PayloadsS3Uri":"s3://b/p.csv"`, ""},
		{"job", job, ""},
		{"job with credentials", job + `,"Credentials":{"AccessKeyId":"AK","SecretAccessKey":"S"}`, ""},
		{"job and payloads", job + `,"Payloads":["1,2"]`, `"Check": Arguments.ProcessingJob: set either ProcessingJob`},
		{"job and s3", job + `,"PayloadsS3Uri":"s3://b/p.csv"`, `"Check": Arguments.ProcessingJob: set either ProcessingJob`},
		{"neither", `"ContentType":"text/csv"`, "or ProcessingJob (a job that tests the endpoint)"},
		{"job not an object", `"ProcessingJob":"x"`, "Arguments.ProcessingJob: want a object"},
		{"credentials without a job", `"Payloads":["1"],"Credentials":{"AccessKeyId":"AK","SecretAccessKey":"S"}`,
			"Arguments.Credentials: only a step with a ProcessingJob"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			def := `{"Version":"2020-12-01","Steps":[{"Name":"Check","Type":"Sluice:EndpointTest","Arguments":{"Environment":"staging",` + c.args + `}}]}`
			d, err := Parse([]byte(def))
			if err == nil {
				err = d.Validate()
			}
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestEndpointTestCredentials(t *testing.T) {
	cases := []struct {
		name    string
		in      any
		want    map[string]string
		wantErr string
	}{
		{"none", nil, map[string]string{}, ""},
		{"key", map[string]any{"AccessKeyId": "AK", "SecretAccessKey": "S"}, map[string]string{"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "S"}, ""},
		{"environment's", map[string]any{"FromEnvironment": true}, map[string]string{"FromEnvironment": "true"}, ""},
		{"half a key", map[string]any{"AccessKeyId": "AK"}, nil, "want AccessKeyId and SecretAccessKey"},
		{"both", map[string]any{"FromEnvironment": true, "AccessKeyId": "AK"}, nil, "not both"},
		{"not an object", "AK", nil, "want an object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := endpointTestCredentials(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}
