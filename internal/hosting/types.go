package hosting

import (
	"encoding/json"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// The documents below keep SageMaker's field names as JSON keys: they are stored as they were
// sent, and the API layer reuses them as wire shapes. Members Sluice does not act on are kept
// as raw JSON so that Describe returns what Create was given.

// ContainerDefinition is one container of a model.
type ContainerDefinition struct {
	ContainerHostname          string            `json:"ContainerHostname,omitempty"`
	Image                      string            `json:"Image,omitempty"`
	ImageConfig                json.RawMessage   `json:"ImageConfig,omitempty"`
	Mode                       string            `json:"Mode,omitempty"`
	ModelDataUrl               string            `json:"ModelDataUrl,omitempty"`
	ModelDataSource            *ModelDataSource  `json:"ModelDataSource,omitempty"`
	AdditionalModelDataSources json.RawMessage   `json:"AdditionalModelDataSources,omitempty"`
	Environment                map[string]string `json:"Environment,omitempty"`
	ModelPackageName           string            `json:"ModelPackageName,omitempty"`
	InferenceSpecificationName string            `json:"InferenceSpecificationName,omitempty"`
	MultiModelConfig           json.RawMessage   `json:"MultiModelConfig,omitempty"`
}

// ModelDataSource locates uncompressed or compressed model artifacts.
type ModelDataSource struct {
	S3DataSource *S3ModelDataSource `json:"S3DataSource,omitempty"`
}

// S3ModelDataSource is ModelDataSource.S3DataSource.
type S3ModelDataSource struct {
	S3Uri             string          `json:"S3Uri"`
	S3DataType        string          `json:"S3DataType"`
	CompressionType   string          `json:"CompressionType"`
	ModelAccessConfig json.RawMessage `json:"ModelAccessConfig,omitempty"`
	HubAccessConfig   json.RawMessage `json:"HubAccessConfig,omitempty"`
	ManifestS3Uri     string          `json:"ManifestS3Uri,omitempty"`
	ETag              string          `json:"ETag,omitempty"`
}

// Model is a SageMaker model: containers and how they run.
type Model struct {
	ModelName                string                `json:"ModelName"`
	ModelArn                 string                `json:"ModelArn"`
	PrimaryContainer         *ContainerDefinition  `json:"PrimaryContainer,omitempty"`
	Containers               []ContainerDefinition `json:"Containers,omitempty"`
	InferenceExecutionConfig json.RawMessage       `json:"InferenceExecutionConfig,omitempty"`
	ExecutionRoleArn         string                `json:"ExecutionRoleArn,omitempty"`
	VpcConfig                json.RawMessage       `json:"VpcConfig,omitempty"`
	EnableNetworkIsolation   bool                  `json:"EnableNetworkIsolation"`
	CreationTime             time.Time             `json:"CreationTime"`
	// Resolved is how the containers run: a container naming a model package is replaced by
	// the package's containers, with the container's Environment laid over theirs.
	Resolved []ResolvedContainer `json:"Resolved"`
}

// ResolvedContainer is a container as a model server runs it.
type ResolvedContainer struct {
	Hostname     string            `json:"Hostname,omitempty"`
	Image        string            `json:"Image"`
	ModelDataURL string            `json:"ModelDataUrl,omitempty"`
	Uncompressed bool              `json:"Uncompressed,omitempty"`
	Environment  map[string]string `json:"Environment,omitempty"`
	// ModelPackage is the ARN of the package the container came from, if any.
	ModelPackage string `json:"ModelPackage,omitempty"`
}

// ProductionVariant is one variant of an endpoint config (production or shadow).
type ProductionVariant struct {
	VariantName                                 string          `json:"VariantName"`
	ModelName                                   string          `json:"ModelName,omitempty"`
	InitialInstanceCount                        *int32          `json:"InitialInstanceCount,omitempty"`
	InstanceType                                string          `json:"InstanceType,omitempty"`
	InitialVariantWeight                        *float64        `json:"InitialVariantWeight,omitempty"`
	AcceleratorType                             string          `json:"AcceleratorType,omitempty"`
	ServerlessConfig                            json.RawMessage `json:"ServerlessConfig,omitempty"`
	VolumeSizeInGB                              *int32          `json:"VolumeSizeInGB,omitempty"`
	ModelDataDownloadTimeoutInSeconds           *int32          `json:"ModelDataDownloadTimeoutInSeconds,omitempty"`
	ContainerStartupHealthCheckTimeoutInSeconds *int32          `json:"ContainerStartupHealthCheckTimeoutInSeconds,omitempty"`
	ManagedInstanceScaling                      json.RawMessage `json:"ManagedInstanceScaling,omitempty"`
	RoutingConfig                               json.RawMessage `json:"RoutingConfig,omitempty"`
	CoreDumpConfig                              json.RawMessage `json:"CoreDumpConfig,omitempty"`
	EnableSSMAccess                             *bool           `json:"EnableSSMAccess,omitempty"`
	InferenceAmiVersion                         string          `json:"InferenceAmiVersion,omitempty"`
	CapacityReservationConfig                   json.RawMessage `json:"CapacityReservationConfig,omitempty"`
}

// weight is InitialVariantWeight with SageMaker's default of 1.
func (v ProductionVariant) weight() float64 {
	if v.InitialVariantWeight == nil {
		return 1
	}
	return *v.InitialVariantWeight
}

// instances is InitialInstanceCount; a serverless variant without one runs one replica.
func (v ProductionVariant) instances() int {
	if v.InitialInstanceCount == nil {
		return 1
	}
	return int(*v.InitialInstanceCount)
}

// DataCaptureConfig says which traffic an endpoint records and where.
type DataCaptureConfig struct {
	EnableCapture             *bool                     `json:"EnableCapture,omitempty"`
	InitialSamplingPercentage int32                     `json:"InitialSamplingPercentage"`
	DestinationS3Uri          string                    `json:"DestinationS3Uri"`
	KmsKeyId                  string                    `json:"KmsKeyId,omitempty"`
	CaptureOptions            []CaptureOption           `json:"CaptureOptions"`
	CaptureContentTypeHeader  *CaptureContentTypeHeader `json:"CaptureContentTypeHeader,omitempty"`
}

// enabled is EnableCapture with SageMaker's default of true.
func (d *DataCaptureConfig) enabled() bool {
	return d != nil && (d.EnableCapture == nil || *d.EnableCapture)
}

// CaptureOption selects a side of the traffic: Input, Output or InputAndOutput.
type CaptureOption struct {
	CaptureMode string `json:"CaptureMode"`
}

// CaptureContentTypeHeader lists the content types captured as text.
type CaptureContentTypeHeader struct {
	CsvContentTypes  []string `json:"CsvContentTypes,omitempty"`
	JsonContentTypes []string `json:"JsonContentTypes,omitempty"`
}

// EndpointConfig is an immutable endpoint configuration.
type EndpointConfig struct {
	EndpointConfigName       string              `json:"EndpointConfigName"`
	EndpointConfigArn        string              `json:"EndpointConfigArn"`
	ProductionVariants       []ProductionVariant `json:"ProductionVariants"`
	DataCaptureConfig        *DataCaptureConfig  `json:"DataCaptureConfig,omitempty"`
	ShadowProductionVariants []ProductionVariant `json:"ShadowProductionVariants,omitempty"`
	KmsKeyId                 string              `json:"KmsKeyId,omitempty"`
	AsyncInferenceConfig     json.RawMessage     `json:"AsyncInferenceConfig,omitempty"`
	ExplainerConfig          json.RawMessage     `json:"ExplainerConfig,omitempty"`
	ExecutionRoleArn         string              `json:"ExecutionRoleArn,omitempty"`
	VpcConfig                json.RawMessage     `json:"VpcConfig,omitempty"`
	EnableNetworkIsolation   *bool               `json:"EnableNetworkIsolation,omitempty"`
	MetricsConfig            json.RawMessage     `json:"MetricsConfig,omitempty"`
	CreationTime             time.Time           `json:"CreationTime"`
}

// Endpoint is what DescribeEndpoint reports.
type Endpoint struct {
	EndpointName       string
	EndpointArn        string
	EndpointConfigName string
	EndpointStatus     string
	FailureReason      string
	CreationTime       time.Time
	LastModifiedTime   time.Time
	ProductionVariants []VariantSummary
	// ShadowProductionVariants are the shadow variants' summaries.
	ShadowProductionVariants []VariantSummary
	DataCaptureConfig        *DataCaptureSummary
	// LastDeploymentConfig is the DeploymentConfig of the last Create or UpdateEndpoint.
	LastDeploymentConfig json.RawMessage
	// PendingDeploymentSummary is set while an UpdateEndpoint to a new config is in flight.
	PendingDeploymentSummary *PendingDeployment
}

// VariantSummary is a production variant of a running endpoint.
type VariantSummary struct {
	VariantName          string          `json:"VariantName"`
	DeployedImages       []DeployedImage `json:"DeployedImages,omitempty"`
	CurrentWeight        *float64        `json:"CurrentWeight,omitempty"`
	DesiredWeight        *float64        `json:"DesiredWeight,omitempty"`
	CurrentInstanceCount *int32          `json:"CurrentInstanceCount,omitempty"`
	DesiredInstanceCount *int32          `json:"DesiredInstanceCount,omitempty"`
	VariantStatus        []VariantStatus `json:"VariantStatus,omitempty"`
	InstanceType         string          `json:"InstanceType,omitempty"`
}

// DeployedImage is an image a variant runs.
type DeployedImage struct {
	SpecifiedImage string    `json:"SpecifiedImage"`
	ResolvedImage  string    `json:"ResolvedImage"`
	ResolutionTime time.Time `json:"ResolutionTime"`
}

// VariantStatus is a variant's ongoing change (Creating, Updating, Deleting, ActivatingTraffic,
// Baking).
type VariantStatus struct {
	Status        string    `json:"Status"`
	StatusMessage string    `json:"StatusMessage,omitempty"`
	StartTime     time.Time `json:"StartTime"`
}

// DataCaptureSummary is an endpoint's data capture state.
type DataCaptureSummary struct {
	EnableCapture             bool   `json:"EnableCapture"`
	CaptureStatus             string `json:"CaptureStatus"`
	CurrentSamplingPercentage int32  `json:"CurrentSamplingPercentage"`
	DestinationS3Uri          string `json:"DestinationS3Uri"`
	KmsKeyId                  string `json:"KmsKeyId,omitempty"`
}

// PendingDeployment is an update in flight.
type PendingDeployment struct {
	EndpointConfigName       string           `json:"EndpointConfigName"`
	ProductionVariants       []VariantSummary `json:"ProductionVariants,omitempty"`
	ShadowProductionVariants []VariantSummary `json:"ShadowProductionVariants,omitempty"`
	StartTime                time.Time        `json:"StartTime"`
}

// DesiredWeightAndCapacity is one entry of UpdateEndpointWeightsAndCapacities.
type DesiredWeightAndCapacity struct {
	VariantName          string          `json:"VariantName"`
	DesiredWeight        *float64        `json:"DesiredWeight,omitempty"`
	DesiredInstanceCount *int32          `json:"DesiredInstanceCount,omitempty"`
	ServerlessUpdate     json.RawMessage `json:"ServerlessUpdateConfig,omitempty"`
}

// Tag is a key/value label.
type Tag = store.Tag
