package jobs

import (
	"encoding/json"
	"time"
)

// The request shapes below are SageMaker's, member for member, with the same JSON names, so the
// API layer decodes CreateProcessingJob and CreateTrainingJob bodies straight into them and the
// pipeline engine can do the same with a step's Arguments. Members Sluice accepts and echoes but
// does not act on are kept as raw JSON.

// Tag is a key/value label, as in SageMaker's TagList.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// AppSpecification is the container a processing job runs.
type AppSpecification struct {
	ImageUri            string   `json:"ImageUri"`
	ContainerEntrypoint []string `json:"ContainerEntrypoint,omitempty"`
	ContainerArguments  []string `json:"ContainerArguments,omitempty"`
}

// ProcessingS3Input is where a processing input comes from and where the job sees it.
type ProcessingS3Input struct {
	S3Uri                  string `json:"S3Uri"`
	LocalPath              string `json:"LocalPath,omitempty"`
	S3DataType             string `json:"S3DataType"`
	S3InputMode            string `json:"S3InputMode,omitempty"`
	S3DataDistributionType string `json:"S3DataDistributionType,omitempty"`
	S3CompressionType      string `json:"S3CompressionType,omitempty"`
}

// ProcessingInput is one entry of ProcessingInputs.
type ProcessingInput struct {
	InputName         string             `json:"InputName"`
	AppManaged        *bool              `json:"AppManaged,omitempty"`
	S3Input           *ProcessingS3Input `json:"S3Input,omitempty"`
	DatasetDefinition json.RawMessage    `json:"DatasetDefinition,omitempty"`
}

// ProcessingS3Output is where a processing output is uploaded from and to.
type ProcessingS3Output struct {
	S3Uri        string `json:"S3Uri"`
	LocalPath    string `json:"LocalPath"`
	S3UploadMode string `json:"S3UploadMode"`
}

// ProcessingOutput is one entry of ProcessingOutputConfig.Outputs.
type ProcessingOutput struct {
	OutputName         string              `json:"OutputName"`
	S3Output           *ProcessingS3Output `json:"S3Output,omitempty"`
	FeatureStoreOutput json.RawMessage     `json:"FeatureStoreOutput,omitempty"`
	AppManaged         *bool               `json:"AppManaged,omitempty"`
}

// ProcessingOutputConfig lists a processing job's outputs.
type ProcessingOutputConfig struct {
	Outputs  []ProcessingOutput `json:"Outputs"`
	KmsKeyId string             `json:"KmsKeyId,omitempty"`
}

// ProcessingClusterConfig sizes a processing job.
type ProcessingClusterConfig struct {
	InstanceCount  int32  `json:"InstanceCount"`
	InstanceType   string `json:"InstanceType"`
	VolumeSizeInGB int32  `json:"VolumeSizeInGB"`
	VolumeKmsKeyId string `json:"VolumeKmsKeyId,omitempty"`
}

// ProcessingResources holds a processing job's cluster configuration.
type ProcessingResources struct {
	ClusterConfig *ProcessingClusterConfig `json:"ClusterConfig"`
}

// StoppingCondition bounds a job's run time. Processing jobs use only MaxRuntimeInSeconds.
type StoppingCondition struct {
	MaxRuntimeInSeconds  int32 `json:"MaxRuntimeInSeconds,omitempty"`
	MaxWaitTimeInSeconds int32 `json:"MaxWaitTimeInSeconds,omitempty"`
}

// NetworkConfig is a processing job's network settings.
type NetworkConfig struct {
	EnableInterContainerTrafficEncryption *bool           `json:"EnableInterContainerTrafficEncryption,omitempty"`
	EnableNetworkIsolation                *bool           `json:"EnableNetworkIsolation,omitempty"`
	VpcConfig                             json.RawMessage `json:"VpcConfig,omitempty"`
}

// ProcessingJobSpec is CreateProcessingJob's request.
type ProcessingJobSpec struct {
	ProcessingJobName      string                  `json:"ProcessingJobName"`
	ProcessingInputs       []ProcessingInput       `json:"ProcessingInputs,omitempty"`
	ProcessingOutputConfig *ProcessingOutputConfig `json:"ProcessingOutputConfig,omitempty"`
	ProcessingResources    *ProcessingResources    `json:"ProcessingResources,omitempty"`
	StoppingCondition      *StoppingCondition      `json:"StoppingCondition,omitempty"`
	AppSpecification       *AppSpecification       `json:"AppSpecification,omitempty"`
	Environment            map[string]string       `json:"Environment,omitempty"`
	NetworkConfig          *NetworkConfig          `json:"NetworkConfig,omitempty"`
	RoleArn                string                  `json:"RoleArn,omitempty"`
	ExperimentConfig       json.RawMessage         `json:"ExperimentConfig,omitempty"`
	Tags                   []Tag                   `json:"Tags,omitempty"`
}

// MetricDefinition names a metric and the regular expression that finds it in the job's log.
type MetricDefinition struct {
	Name  string `json:"Name"`
	Regex string `json:"Regex"`
}

// AlgorithmSpecification is the container a training job runs.
type AlgorithmSpecification struct {
	TrainingImage                    string             `json:"TrainingImage,omitempty"`
	AlgorithmName                    string             `json:"AlgorithmName,omitempty"`
	TrainingInputMode                string             `json:"TrainingInputMode"`
	MetricDefinitions                []MetricDefinition `json:"MetricDefinitions,omitempty"`
	EnableSageMakerMetricsTimeSeries *bool              `json:"EnableSageMakerMetricsTimeSeries,omitempty"`
	ContainerEntrypoint              []string           `json:"ContainerEntrypoint,omitempty"`
	ContainerArguments               []string           `json:"ContainerArguments,omitempty"`
	TrainingImageConfig              json.RawMessage    `json:"TrainingImageConfig,omitempty"`
}

// S3DataSource is where a training channel's data comes from.
type S3DataSource struct {
	S3DataType             string          `json:"S3DataType"`
	S3Uri                  string          `json:"S3Uri"`
	S3DataDistributionType string          `json:"S3DataDistributionType,omitempty"`
	AttributeNames         []string        `json:"AttributeNames,omitempty"`
	InstanceGroupNames     []string        `json:"InstanceGroupNames,omitempty"`
	ModelAccessConfig      json.RawMessage `json:"ModelAccessConfig,omitempty"`
	HubAccessConfig        json.RawMessage `json:"HubAccessConfig,omitempty"`
}

// DataSource is a training channel's source; Sluice reads S3DataSource.
type DataSource struct {
	S3DataSource         *S3DataSource   `json:"S3DataSource,omitempty"`
	FileSystemDataSource json.RawMessage `json:"FileSystemDataSource,omitempty"`
	DatasetSource        json.RawMessage `json:"DatasetSource,omitempty"`
}

// Channel is one entry of InputDataConfig.
type Channel struct {
	ChannelName       string          `json:"ChannelName"`
	DataSource        *DataSource     `json:"DataSource"`
	ContentType       string          `json:"ContentType,omitempty"`
	CompressionType   string          `json:"CompressionType,omitempty"`
	RecordWrapperType string          `json:"RecordWrapperType,omitempty"`
	InputMode         string          `json:"InputMode,omitempty"`
	ShuffleConfig     json.RawMessage `json:"ShuffleConfig,omitempty"`
}

// OutputDataConfig is where a training job's model and output data go.
type OutputDataConfig struct {
	KmsKeyId        string `json:"KmsKeyId,omitempty"`
	S3OutputPath    string `json:"S3OutputPath"`
	CompressionType string `json:"CompressionType,omitempty"`
}

// ResourceConfig sizes a training job.
type ResourceConfig struct {
	InstanceType             string          `json:"InstanceType,omitempty"`
	InstanceCount            *int32          `json:"InstanceCount,omitempty"`
	VolumeSizeInGB           int32           `json:"VolumeSizeInGB"`
	VolumeKmsKeyId           string          `json:"VolumeKmsKeyId,omitempty"`
	KeepAlivePeriodInSeconds *int32          `json:"KeepAlivePeriodInSeconds,omitempty"`
	InstanceGroups           json.RawMessage `json:"InstanceGroups,omitempty"`
	TrainingPlanArn          string          `json:"TrainingPlanArn,omitempty"`
}

// CheckpointConfig syncs a training job's checkpoint folder with S3.
type CheckpointConfig struct {
	S3Uri     string `json:"S3Uri"`
	LocalPath string `json:"LocalPath,omitempty"`
}

// TrainingJobSpec is CreateTrainingJob's request.
type TrainingJobSpec struct {
	TrainingJobName                       string                  `json:"TrainingJobName"`
	HyperParameters                       map[string]string       `json:"HyperParameters,omitempty"`
	AlgorithmSpecification                *AlgorithmSpecification `json:"AlgorithmSpecification,omitempty"`
	RoleArn                               string                  `json:"RoleArn,omitempty"`
	InputDataConfig                       []Channel               `json:"InputDataConfig,omitempty"`
	OutputDataConfig                      *OutputDataConfig       `json:"OutputDataConfig,omitempty"`
	ResourceConfig                        *ResourceConfig         `json:"ResourceConfig,omitempty"`
	VpcConfig                             json.RawMessage         `json:"VpcConfig,omitempty"`
	StoppingCondition                     *StoppingCondition      `json:"StoppingCondition,omitempty"`
	Tags                                  []Tag                   `json:"Tags,omitempty"`
	EnableNetworkIsolation                *bool                   `json:"EnableNetworkIsolation,omitempty"`
	EnableInterContainerTrafficEncryption *bool                   `json:"EnableInterContainerTrafficEncryption,omitempty"`
	EnableManagedSpotTraining             *bool                   `json:"EnableManagedSpotTraining,omitempty"`
	CheckpointConfig                      *CheckpointConfig       `json:"CheckpointConfig,omitempty"`
	DebugHookConfig                       json.RawMessage         `json:"DebugHookConfig,omitempty"`
	DebugRuleConfigurations               json.RawMessage         `json:"DebugRuleConfigurations,omitempty"`
	TensorBoardOutputConfig               json.RawMessage         `json:"TensorBoardOutputConfig,omitempty"`
	ExperimentConfig                      json.RawMessage         `json:"ExperimentConfig,omitempty"`
	ProfilerConfig                        json.RawMessage         `json:"ProfilerConfig,omitempty"`
	ProfilerRuleConfigurations            json.RawMessage         `json:"ProfilerRuleConfigurations,omitempty"`
	Environment                           map[string]string       `json:"Environment,omitempty"`
	RetryStrategy                         json.RawMessage         `json:"RetryStrategy,omitempty"`
	RemoteDebugConfig                     json.RawMessage         `json:"RemoteDebugConfig,omitempty"`
	InfraCheckConfig                      json.RawMessage         `json:"InfraCheckConfig,omitempty"`
	SessionChainingConfig                 json.RawMessage         `json:"SessionChainingConfig,omitempty"`
}

// Transition is one step of a job's timeline: SageMaker's SecondaryStatusTransition for
// training jobs. Processing jobs keep one too (SageMaker's API has no place for it; the native
// API and the CLI show it).
type Transition struct {
	Status        string    `json:"Status"`
	StartTime     time.Time `json:"StartTime"`
	EndTime       time.Time `json:"EndTime,omitzero"`
	StatusMessage string    `json:"StatusMessage,omitempty"`
}

// MetricData is the last value of one metric found in a training job's log.
type MetricData struct {
	MetricName string    `json:"MetricName"`
	Value      float64   `json:"Value"`
	Timestamp  time.Time `json:"Timestamp"`
}

// ProcessingJob is a processing job as DescribeProcessingJob reports it, plus its timeline.
type ProcessingJob struct {
	ProcessingJobSpec
	ProcessingJobArn    string
	ProcessingJobStatus string
	ExitMessage         string
	FailureReason       string
	CreationTime        time.Time
	LastModifiedTime    time.Time
	ProcessingStartTime time.Time
	ProcessingEndTime   time.Time
	// Transitions is the job's timeline (Starting, Downloading, Processing, Uploading, and the
	// final status), with the runner's timestamps.
	Transitions []Transition
	// Attempt counts runs; above 1 the server restarted during the job.
	Attempt int
}

// TrainingJob is a training job as DescribeTrainingJob reports it.
type TrainingJob struct {
	TrainingJobSpec
	TrainingJobArn             string
	TrainingJobStatus          string
	SecondaryStatus            string
	FailureReason              string
	S3ModelArtifacts           string
	FinalMetricDataList        []MetricData
	SecondaryStatusTransitions []Transition
	CreationTime               time.Time
	LastModifiedTime           time.Time
	TrainingStartTime          time.Time
	TrainingEndTime            time.Time
	// TrainingTimeInSeconds is the time the container ran (also SageMaker's billable time).
	TrainingTimeInSeconds int
	// Attempt counts runs; above 1 the server restarted during the job.
	Attempt int
}

// Summary is one row of a job list.
type Summary struct {
	Kind             Kind
	Name             string
	ARN              string
	Status           string
	SecondaryStatus  string
	FailureReason    string
	ExitMessage      string
	CreationTime     time.Time
	LastModifiedTime time.Time
	EndTime          time.Time
}
