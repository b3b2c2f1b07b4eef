package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/internal/jobs"
)

func TestCreateRefusesWhatCannotRun(t *testing.T) {
	h := newHarness(t, nil)
	two := int32(2)
	processingCases := []struct {
		name string
		edit func(s *jobs.ProcessingJobSpec)
		want string
	}{
		{"unknown image", func(s *jobs.ProcessingJobSpec) { s.AppSpecification.ImageUri = "registry.example/unknown:1" }, "AppSpecification.ImageUri: image \"registry.example/unknown:1\""},
		{"input outside processing dir", func(s *jobs.ProcessingJobSpec) {
			s.ProcessingInputs = []jobs.ProcessingInput{{InputName: "in", S3Input: &jobs.ProcessingS3Input{S3Uri: "s3://b/k", LocalPath: "/opt/ml/input", S3DataType: "S3Prefix"}}}
		}, "must be a folder below /opt/ml/processing/"},
		{"input climbing out", func(s *jobs.ProcessingJobSpec) {
			s.ProcessingInputs = []jobs.ProcessingInput{{InputName: "in", S3Input: &jobs.ProcessingS3Input{S3Uri: "s3://b/k", LocalPath: "/opt/ml/processing/../../etc", S3DataType: "S3Prefix"}}}
		}, "must be a folder below"},
		{"dataset definition", func(s *jobs.ProcessingJobSpec) {
			s.ProcessingInputs = []jobs.ProcessingInput{{InputName: "q", DatasetDefinition: []byte(`{"AthenaDatasetDefinition":{}}`)}}
		}, "DatasetDefinition inputs (Athena, Redshift) are not supported"},
		{"pipe mode", func(s *jobs.ProcessingJobSpec) {
			s.ProcessingInputs = []jobs.ProcessingInput{{InputName: "in", S3Input: &jobs.ProcessingS3Input{S3Uri: "s3://b/k", LocalPath: "/opt/ml/processing/in", S3DataType: "S3Prefix", S3InputMode: "Pipe"}}}
		}, "Pipe is not supported"},
		{"bad uri", func(s *jobs.ProcessingJobSpec) {
			s.ProcessingInputs = []jobs.ProcessingInput{{InputName: "in", S3Input: &jobs.ProcessingS3Input{S3Uri: "s3://Bad_Bucket/k", LocalPath: "/opt/ml/processing/in", S3DataType: "S3Prefix"}}}
		}, "ProcessingInputs.1.S3Input.S3Uri"},
		{"https uri", func(s *jobs.ProcessingJobSpec) {
			s.ProcessingInputs = []jobs.ProcessingInput{{InputName: "in", S3Input: &jobs.ProcessingS3Input{S3Uri: "https://b.s3.amazonaws.com/k", LocalPath: "/opt/ml/processing/in", S3DataType: "S3Prefix"}}}
		}, "only s3:// URIs"},
		{"same local path twice", func(s *jobs.ProcessingJobSpec) {
			s.ProcessingInputs = []jobs.ProcessingInput{{InputName: "in", S3Input: &jobs.ProcessingS3Input{S3Uri: "s3://b/k", LocalPath: "/opt/ml/processing/x", S3DataType: "S3Prefix"}}}
			s.ProcessingOutputConfig = &jobs.ProcessingOutputConfig{Outputs: []jobs.ProcessingOutput{{OutputName: "o", S3Output: &jobs.ProcessingS3Output{S3Uri: "s3://b/o", LocalPath: "/opt/ml/processing/x/", S3UploadMode: "EndOfJob"}}}}
		}, "needs a folder of its own"},
		{"feature store output", func(s *jobs.ProcessingJobSpec) {
			s.ProcessingOutputConfig = &jobs.ProcessingOutputConfig{Outputs: []jobs.ProcessingOutput{{OutputName: "fs", FeatureStoreOutput: []byte(`{"FeatureGroupName":"g"}`)}}}
		}, "FeatureStoreOutput is not supported"},
		{"several instances", func(s *jobs.ProcessingJobSpec) { s.ProcessingResources.ClusterConfig.InstanceCount = 2 }, "runs a job on one host"},
		{"two problems at once", func(s *jobs.ProcessingJobSpec) {
			s.ProcessingResources.ClusterConfig.InstanceCount = 3
			s.AppSpecification.ImageUri = "nope/nope"
		}, "2 problems"},
	}
	for _, c := range processingCases {
		t.Run("processing/"+c.name, func(t *testing.T) {
			spec := processing("bad-"+strings.ReplaceAll(c.name, " ", "-"), "true")
			c.edit(spec)
			_, err := h.runner.CreateProcessingJob(context.Background(), spec)
			if !errors.Is(err, jobs.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an invalid request mentioning %q", err, c.want)
			}
			if _, err := h.runner.DescribeProcessingJob(context.Background(), spec.ProcessingJobName); !errors.Is(err, jobs.ErrNotFound) {
				t.Errorf("a refused request left a job behind: %v", err)
			}
		})
	}
	trainingCases := []struct {
		name string
		edit func(s *jobs.TrainingJobSpec)
		want string
	}{
		{"pipe mode", func(s *jobs.TrainingJobSpec) { s.AlgorithmSpecification.TrainingInputMode = "Pipe" }, "TrainingInputMode Pipe is not supported"},
		{"algorithm resource", func(s *jobs.TrainingJobSpec) {
			s.AlgorithmSpecification.TrainingImage = ""
			s.AlgorithmSpecification.AlgorithmName = "my-algo"
		}, "algorithm resources are not supported"},
		{"bad metric regex", func(s *jobs.TrainingJobSpec) {
			s.AlgorithmSpecification.MetricDefinitions = []jobs.MetricDefinition{{Name: "m", Regex: `(?<=loss)([0-9]+)`}}
		}, "MetricDefinitions.1.Regex"},
		{"file system channel", func(s *jobs.TrainingJobSpec) {
			s.InputDataConfig = []jobs.Channel{{ChannelName: "train", DataSource: &jobs.DataSource{FileSystemDataSource: []byte(`{}`)}}}
		}, "only S3DataSource channels"},
		{"duplicate channel", func(s *jobs.TrainingJobSpec) {
			ds := &jobs.DataSource{S3DataSource: &jobs.S3DataSource{S3DataType: "S3Prefix", S3Uri: "s3://b/k"}}
			s.InputDataConfig = []jobs.Channel{{ChannelName: "train", DataSource: ds}, {ChannelName: "train", DataSource: ds}}
		}, "used twice"},
		{"augmented manifest", func(s *jobs.TrainingJobSpec) {
			s.InputDataConfig = []jobs.Channel{{ChannelName: "train", DataSource: &jobs.DataSource{S3DataSource: &jobs.S3DataSource{S3DataType: "AugmentedManifestFile", S3Uri: "s3://b/k"}}}}
		}, "expected S3Prefix or ManifestFile"},
		{"bad output path", func(s *jobs.TrainingJobSpec) { s.OutputDataConfig.S3OutputPath = "/tmp/out" }, "OutputDataConfig.S3OutputPath"},
		{"several instances", func(s *jobs.TrainingJobSpec) { s.ResourceConfig.InstanceCount = &two }, "runs a job on one host"},
		{"local submit directory", func(s *jobs.TrainingJobSpec) {
			s.HyperParameters = map[string]string{"sagemaker_submit_directory": `"file:///home/me/src"`}
		}, "sagemaker_submit_directory"},
		{"checkpoints outside /opt/ml", func(s *jobs.TrainingJobSpec) {
			s.CheckpointConfig = &jobs.CheckpointConfig{S3Uri: "s3://b/ck", LocalPath: "/tmp/ck"}
		}, "CheckpointConfig.LocalPath"},
	}
	for _, c := range trainingCases {
		t.Run("training/"+c.name, func(t *testing.T) {
			spec := training("bad-"+strings.ReplaceAll(c.name, " ", "-"), "true")
			c.edit(spec)
			_, err := h.runner.CreateTrainingJob(context.Background(), spec)
			if !errors.Is(err, jobs.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an invalid request mentioning %q", err, c.want)
			}
		})
	}
}
