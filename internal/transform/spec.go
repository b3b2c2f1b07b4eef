package transform

import (
	"encoding/json"
	"time"

	"github.com/sluice-ml/sluice/internal/jobs"
)

// The request shapes below are SageMaker's, member for member, with the same JSON names, so the
// API layer decodes CreateTransformJob bodies straight into them and the pipeline engine does
// the same with a Transform step's Arguments. Members Sluice accepts and echoes but does not
// act on are kept as raw JSON.

// Enum values of the request.
const (
	StrategyMultiRecord  = "MultiRecord"
	StrategySingleRecord = "SingleRecord"

	SplitNone     = "None"
	SplitLine     = "Line"
	SplitRecordIO = "RecordIO"
	SplitTFRecord = "TFRecord"

	CompressionNone = "None"
	CompressionGzip = "Gzip"

	AssembleNone = "None"
	AssembleLine = "Line"

	JoinNone  = "None"
	JoinInput = "Input"

	DataS3Prefix              = "S3Prefix"
	DataManifestFile          = "ManifestFile"
	DataAugmentedManifestFile = "AugmentedManifestFile"
)

// Defaults and limits of SageMaker's batch transform.
const (
	// DefaultMaxPayloadInMB is the mini-batch size limit when neither the request nor the
	// model's execution parameters set one.
	DefaultMaxPayloadInMB = 6
	// MaxPayloadLimitInMB bounds MaxPayloadInMB, and MaxConcurrentTransforms × MaxPayloadInMB.
	MaxPayloadLimitInMB = 100
	// DefaultInvocationsTimeout is how long one invocation may take (ModelClientConfig).
	DefaultInvocationsTimeout = 600 * time.Second
	// DefaultInvocationsMaxRetries is how often a failed invocation is retried.
	DefaultInvocationsMaxRetries = 3
)

// S3DataSource names the input objects: a key prefix, or a manifest listing them.
type S3DataSource struct {
	S3DataType string `json:"S3DataType"`
	S3Uri      string `json:"S3Uri"`
}

// DataSource holds the input's S3DataSource.
type DataSource struct {
	S3DataSource *S3DataSource `json:"S3DataSource,omitempty"`
}

// Input is TransformInput: where the records come from and how to cut them.
type Input struct {
	DataSource      *DataSource `json:"DataSource,omitempty"`
	ContentType     string      `json:"ContentType,omitempty"`
	CompressionType string      `json:"CompressionType,omitempty"`
	SplitType       string      `json:"SplitType,omitempty"`
}

// Output is TransformOutput: where results go and how they are put together.
type Output struct {
	S3OutputPath string `json:"S3OutputPath"`
	Accept       string `json:"Accept,omitempty"`
	AssembleWith string `json:"AssembleWith,omitempty"`
	KmsKeyId     string `json:"KmsKeyId,omitempty"`
}

// Resources is TransformResources: InstanceCount is the number of workers the input files are
// split across.
type Resources struct {
	InstanceType        string `json:"InstanceType"`
	InstanceCount       int32  `json:"InstanceCount"`
	VolumeKmsKeyId      string `json:"VolumeKmsKeyId,omitempty"`
	TransformAmiVersion string `json:"TransformAmiVersion,omitempty"`
}

// DataProcessing selects what the model sees and what the output keeps.
type DataProcessing struct {
	InputFilter  string `json:"InputFilter,omitempty"`
	OutputFilter string `json:"OutputFilter,omitempty"`
	JoinSource   string `json:"JoinSource,omitempty"`
}

// ModelClientConfig bounds each invocation and says how often a failed one is retried.
type ModelClientConfig struct {
	InvocationsTimeoutInSeconds *int32 `json:"InvocationsTimeoutInSeconds,omitempty"`
	InvocationsMaxRetries       *int32 `json:"InvocationsMaxRetries,omitempty"`
}

// Spec is CreateTransformJob's request.
type Spec struct {
	TransformJobName        string             `json:"TransformJobName"`
	ModelName               string             `json:"ModelName"`
	MaxConcurrentTransforms *int32             `json:"MaxConcurrentTransforms,omitempty"`
	ModelClientConfig       *ModelClientConfig `json:"ModelClientConfig,omitempty"`
	MaxPayloadInMB          *int32             `json:"MaxPayloadInMB,omitempty"`
	BatchStrategy           string             `json:"BatchStrategy,omitempty"`
	Environment             map[string]string  `json:"Environment,omitempty"`
	TransformInput          *Input             `json:"TransformInput,omitempty"`
	TransformOutput         *Output            `json:"TransformOutput,omitempty"`
	DataCaptureConfig       json.RawMessage    `json:"DataCaptureConfig,omitempty"`
	TransformResources      *Resources         `json:"TransformResources,omitempty"`
	DataProcessing          *DataProcessing    `json:"DataProcessing,omitempty"`
	Tags                    []jobs.Tag         `json:"Tags,omitempty"`
	ExperimentConfig        json.RawMessage    `json:"ExperimentConfig,omitempty"`
}

// Job is a transform job as DescribeTransformJob reports it, plus its timeline.
type Job struct {
	Spec
	TransformJobArn    string
	TransformJobStatus string
	FailureReason      string
	CreationTime       time.Time
	LastModifiedTime   time.Time
	TransformStartTime time.Time
	TransformEndTime   time.Time
	// Transitions is the job's timeline, with the runner's timestamps.
	Transitions []jobs.Transition
	// Attempt counts runs; above 1 the server restarted during the job.
	Attempt int
}

// Progress is how far a transform job has got: its input files and the records and bytes done.
type Progress struct {
	Name   string
	Status string
	// FailureReason is the job's, once it has failed.
	FailureReason string
	// StartTime is when the job began transforming (zero while it starts).
	StartTime time.Time
	EndTime   time.Time
	// Files lists the input files in listing order; empty until the job has listed them.
	Files []FileProgress
	// Records and BytesRead sum the files'; TotalBytes is the inputs' size as stored.
	Records    int64
	BytesRead  int64
	TotalBytes int64
	FilesDone  int
}

// FileProgress is one input file of a job.
type FileProgress struct {
	Input     string
	Output    string
	Size      int64
	Status    string
	Records   int64
	BytesRead int64
	Error     string
}
