package sagemaker

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/store"
)

// Hosting: Model, EndpointConfig and Endpoint operations (reference section 3).

func (a *API) registerHosting(mux *awsapi.Mux) {
	if a.Hosting == nil {
		return
	}
	mux.Handle("CreateModel", awsapi.Op(a.createModel))
	mux.Handle("DescribeModel", awsapi.Op(a.describeModel))
	mux.Handle("ListModels", awsapi.Op(a.listModels))
	mux.Handle("DeleteModel", awsapi.Op(a.deleteModel))
	mux.Handle("CreateEndpointConfig", awsapi.Op(a.createEndpointConfig))
	mux.Handle("DescribeEndpointConfig", awsapi.Op(a.describeEndpointConfig))
	mux.Handle("ListEndpointConfigs", awsapi.Op(a.listEndpointConfigs))
	mux.Handle("DeleteEndpointConfig", awsapi.Op(a.deleteEndpointConfig))
	mux.Handle("CreateEndpoint", awsapi.Op(a.createEndpoint))
	mux.Handle("DescribeEndpoint", awsapi.Op(a.describeEndpoint))
	mux.Handle("ListEndpoints", awsapi.Op(a.listEndpoints))
	mux.Handle("UpdateEndpoint", awsapi.Op(a.updateEndpoint))
	mux.Handle("UpdateEndpointWeightsAndCapacities", awsapi.Op(a.updateEndpointWeightsAndCapacities))
	mux.Handle("DeleteEndpoint", awsapi.Op(a.deleteEndpoint))
}

// hostingError turns a hosting error into SageMaker's: ValidationException for nearly
// everything (missing resources included, which SageMaker's waiters rely on), ResourceInUse
// for a config an endpoint uses, ResourceLimitExceeded for quotas.
func hostingError(err error) error {
	var he *hosting.Error
	if !errors.As(err, &he) {
		return err
	}
	switch {
	case errors.Is(he, hosting.ErrInUse):
		return awsapi.InUse("%s", he.Message)
	case errors.Is(he, hosting.ErrLimit):
		return awsapi.LimitExceeded("%s", he.Message)
	}
	return awsapi.Validation("%s", he.Message)
}

// --- wire types -----------------------------------------------------------------------------

type createModelRequest struct {
	ModelName                string                        `json:"ModelName"`
	PrimaryContainer         *hosting.ContainerDefinition  `json:"PrimaryContainer"`
	Containers               []hosting.ContainerDefinition `json:"Containers"`
	InferenceExecutionConfig json.RawMessage               `json:"InferenceExecutionConfig"`
	ExecutionRoleArn         string                        `json:"ExecutionRoleArn"`
	VpcConfig                json.RawMessage               `json:"VpcConfig"`
	EnableNetworkIsolation   bool                          `json:"EnableNetworkIsolation"`
	Tags                     []Tag                         `json:"Tags"`
}

type createModelResponse struct {
	ModelArn string `json:"ModelArn"`
}

type modelRef struct {
	ModelName string `json:"ModelName"`
}

type describeModelResponse struct {
	ModelName                string                        `json:"ModelName"`
	ModelArn                 string                        `json:"ModelArn"`
	PrimaryContainer         *hosting.ContainerDefinition  `json:"PrimaryContainer,omitempty"`
	Containers               []hosting.ContainerDefinition `json:"Containers,omitempty"`
	InferenceExecutionConfig json.RawMessage               `json:"InferenceExecutionConfig,omitempty"`
	ExecutionRoleArn         string                        `json:"ExecutionRoleArn,omitempty"`
	VpcConfig                json.RawMessage               `json:"VpcConfig,omitempty"`
	CreationTime             awsapi.Time                   `json:"CreationTime"`
	EnableNetworkIsolation   bool                          `json:"EnableNetworkIsolation"`
}

// listHostingRequest is the request of ListModels, ListEndpointConfigs and ListEndpoints.
type listHostingRequest struct {
	SortBy                 string       `json:"SortBy"`
	SortOrder              string       `json:"SortOrder"`
	NextToken              string       `json:"NextToken"`
	MaxResults             *int32       `json:"MaxResults"`
	NameContains           string       `json:"NameContains"`
	CreationTimeBefore     *awsapi.Time `json:"CreationTimeBefore"`
	CreationTimeAfter      *awsapi.Time `json:"CreationTimeAfter"`
	LastModifiedTimeBefore *awsapi.Time `json:"LastModifiedTimeBefore"`
	LastModifiedTimeAfter  *awsapi.Time `json:"LastModifiedTimeAfter"`
	StatusEquals           string       `json:"StatusEquals"`
}

type modelSummary struct {
	ModelName    string      `json:"ModelName"`
	ModelArn     string      `json:"ModelArn"`
	CreationTime awsapi.Time `json:"CreationTime"`
}

type listModelsResponse struct {
	Models    []modelSummary `json:"Models"`
	NextToken string         `json:"NextToken,omitempty"`
}

type createEndpointConfigRequest struct {
	EndpointConfigName       string                      `json:"EndpointConfigName"`
	ProductionVariants       []hosting.ProductionVariant `json:"ProductionVariants"`
	DataCaptureConfig        *hosting.DataCaptureConfig  `json:"DataCaptureConfig"`
	ShadowProductionVariants []hosting.ProductionVariant `json:"ShadowProductionVariants"`
	KmsKeyId                 string                      `json:"KmsKeyId"`
	AsyncInferenceConfig     json.RawMessage             `json:"AsyncInferenceConfig"`
	ExplainerConfig          json.RawMessage             `json:"ExplainerConfig"`
	ExecutionRoleArn         string                      `json:"ExecutionRoleArn"`
	VpcConfig                json.RawMessage             `json:"VpcConfig"`
	EnableNetworkIsolation   *bool                       `json:"EnableNetworkIsolation"`
	MetricsConfig            json.RawMessage             `json:"MetricsConfig"`
	Tags                     []Tag                       `json:"Tags"`
}

type createEndpointConfigResponse struct {
	EndpointConfigArn string `json:"EndpointConfigArn"`
}

type endpointConfigRef struct {
	EndpointConfigName string `json:"EndpointConfigName"`
}

type describeEndpointConfigResponse struct {
	EndpointConfigName       string                      `json:"EndpointConfigName"`
	EndpointConfigArn        string                      `json:"EndpointConfigArn"`
	ProductionVariants       []hosting.ProductionVariant `json:"ProductionVariants"`
	DataCaptureConfig        *hosting.DataCaptureConfig  `json:"DataCaptureConfig,omitempty"`
	ShadowProductionVariants []hosting.ProductionVariant `json:"ShadowProductionVariants,omitempty"`
	KmsKeyId                 string                      `json:"KmsKeyId,omitempty"`
	AsyncInferenceConfig     json.RawMessage             `json:"AsyncInferenceConfig,omitempty"`
	ExplainerConfig          json.RawMessage             `json:"ExplainerConfig,omitempty"`
	ExecutionRoleArn         string                      `json:"ExecutionRoleArn,omitempty"`
	VpcConfig                json.RawMessage             `json:"VpcConfig,omitempty"`
	EnableNetworkIsolation   *bool                       `json:"EnableNetworkIsolation,omitempty"`
	MetricsConfig            json.RawMessage             `json:"MetricsConfig,omitempty"`
	CreationTime             awsapi.Time                 `json:"CreationTime"`
}

type endpointConfigSummary struct {
	EndpointConfigName string      `json:"EndpointConfigName"`
	EndpointConfigArn  string      `json:"EndpointConfigArn"`
	CreationTime       awsapi.Time `json:"CreationTime"`
}

type listEndpointConfigsResponse struct {
	EndpointConfigs []endpointConfigSummary `json:"EndpointConfigs"`
	NextToken       string                  `json:"NextToken,omitempty"`
}

type createEndpointRequest struct {
	EndpointName       string          `json:"EndpointName"`
	EndpointConfigName string          `json:"EndpointConfigName"`
	DeploymentConfig   json.RawMessage `json:"DeploymentConfig"`
	Tags               []Tag           `json:"Tags"`
}

type endpointArnResponse struct {
	EndpointArn string `json:"EndpointArn"`
}

type endpointRef struct {
	EndpointName string `json:"EndpointName"`
}

type updateEndpointRequest struct {
	EndpointName                     string `json:"EndpointName"`
	EndpointConfigName               string `json:"EndpointConfigName"`
	RetainAllVariantProperties       bool   `json:"RetainAllVariantProperties"`
	ExcludeRetainedVariantProperties []struct {
		VariantPropertyType string `json:"VariantPropertyType"`
	} `json:"ExcludeRetainedVariantProperties"`
	DeploymentConfig       json.RawMessage `json:"DeploymentConfig"`
	RetainDeploymentConfig bool            `json:"RetainDeploymentConfig"`
}

type updateWeightsRequest struct {
	EndpointName                string                             `json:"EndpointName"`
	DesiredWeightsAndCapacities []hosting.DesiredWeightAndCapacity `json:"DesiredWeightsAndCapacities"`
}

type deployedImage struct {
	SpecifiedImage string      `json:"SpecifiedImage"`
	ResolvedImage  string      `json:"ResolvedImage"`
	ResolutionTime awsapi.Time `json:"ResolutionTime"`
}

type variantStatus struct {
	Status        string      `json:"Status"`
	StatusMessage string      `json:"StatusMessage,omitempty"`
	StartTime     awsapi.Time `json:"StartTime"`
}

type variantSummary struct {
	VariantName          string          `json:"VariantName"`
	DeployedImages       []deployedImage `json:"DeployedImages,omitempty"`
	CurrentWeight        *float64        `json:"CurrentWeight,omitempty"`
	DesiredWeight        *float64        `json:"DesiredWeight,omitempty"`
	CurrentInstanceCount *int32          `json:"CurrentInstanceCount,omitempty"`
	DesiredInstanceCount *int32          `json:"DesiredInstanceCount,omitempty"`
	VariantStatus        []variantStatus `json:"VariantStatus,omitempty"`
	// InstanceType appears in PendingDeploymentSummary's variants only.
	InstanceType string `json:"InstanceType,omitempty"`
}

type pendingDeployment struct {
	EndpointConfigName       string           `json:"EndpointConfigName"`
	ProductionVariants       []variantSummary `json:"ProductionVariants,omitempty"`
	ShadowProductionVariants []variantSummary `json:"ShadowProductionVariants,omitempty"`
	StartTime                awsapi.Time      `json:"StartTime"`
}

type describeEndpointResponse struct {
	EndpointName             string                      `json:"EndpointName"`
	EndpointArn              string                      `json:"EndpointArn"`
	EndpointConfigName       string                      `json:"EndpointConfigName"`
	ProductionVariants       []variantSummary            `json:"ProductionVariants,omitempty"`
	DataCaptureConfig        *hosting.DataCaptureSummary `json:"DataCaptureConfig,omitempty"`
	EndpointStatus           string                      `json:"EndpointStatus"`
	FailureReason            string                      `json:"FailureReason,omitempty"`
	CreationTime             awsapi.Time                 `json:"CreationTime"`
	LastModifiedTime         awsapi.Time                 `json:"LastModifiedTime"`
	LastDeploymentConfig     json.RawMessage             `json:"LastDeploymentConfig,omitempty"`
	PendingDeploymentSummary *pendingDeployment          `json:"PendingDeploymentSummary,omitempty"`
	ShadowProductionVariants []variantSummary            `json:"ShadowProductionVariants,omitempty"`
}

type endpointSummary struct {
	EndpointName     string      `json:"EndpointName"`
	EndpointArn      string      `json:"EndpointArn"`
	CreationTime     awsapi.Time `json:"CreationTime"`
	LastModifiedTime awsapi.Time `json:"LastModifiedTime"`
	EndpointStatus   string      `json:"EndpointStatus"`
}

type listEndpointsResponse struct {
	Endpoints []endpointSummary `json:"Endpoints"`
	NextToken string            `json:"NextToken,omitempty"`
}

// --- validation -----------------------------------------------------------------------------

func checkName(v *awsapi.Validator, member, s string) {
	v.Required(member, s != "")
	if s != "" {
		v.Length(member, s, 1, 63)
		v.Pattern(member, s, entityNameRE)
	}
}

func checkContainer(v *awsapi.Validator, member string, c *hosting.ContainerDefinition) {
	checkOptional(v, member+".containerHostname", c.ContainerHostname, 63, hostnameRE)
	checkOptional(v, member+".image", c.Image, 255, imageRE)
	checkOptional(v, member+".modelDataUrl", c.ModelDataUrl, 1024, urlRE)
	if c.Mode != "" {
		v.Enum(member+".mode", c.Mode, "SingleModel", "MultiModel")
	}
	if c.ModelPackageName != "" {
		checkArnOrName(v, member+".modelPackageName", c.ModelPackageName, 176, true)
	}
	v.Check(len(c.Environment) <= 100, member+".environment", len(c.Environment), "Map value must have length less than or equal to 100")
	for k, val := range c.Environment {
		v.Length(member+".environment.key", k, 1, 1024)
		v.Pattern(member+".environment.key", k, envKeyRE)
		v.Length(member+".environment.value", val, 0, 1024)
	}
	if src := c.ModelDataSource; src != nil && src.S3DataSource != nil {
		d := src.S3DataSource
		p := member + ".modelDataSource.s3DataSource"
		v.Required(p+".s3Uri", d.S3Uri != "")
		checkOptional(v, p+".s3Uri", d.S3Uri, 1024, urlRE)
		v.Enum(p+".s3DataType", d.S3DataType, "S3Prefix", "S3Object")
		v.Enum(p+".compressionType", d.CompressionType, "None", "Gzip")
	}
}

func checkVariants(v *awsapi.Validator, member string, vs []hosting.ProductionVariant) {
	v.Check(len(vs) <= 10, member, len(vs), "Member must have length less than or equal to 10")
	for i, pv := range vs {
		p := member + "." + strconv.Itoa(i+1) + ".member"
		checkName(v, p+".variantName", pv.VariantName)
		if pv.ModelName != "" {
			v.Length(p+".modelName", pv.ModelName, 1, 63)
			v.Pattern(p+".modelName", pv.ModelName, entityNameRE)
		}
		if pv.InitialInstanceCount != nil {
			v.Range(p+".initialInstanceCount", int64(*pv.InitialInstanceCount), 1, math.MaxInt32)
		}
		checkOptional(v, p+".instanceType", pv.InstanceType, 64, instanceTypeRE)
		if w := pv.InitialVariantWeight; w != nil {
			v.Check(*w >= 0 && !math.IsInf(*w, 0), p+".initialVariantWeight", *w, "Member must have value greater than or equal to 0")
		}
		if n := pv.VolumeSizeInGB; n != nil {
			v.Range(p+".volumeSizeInGB", int64(*n), 1, 512)
		}
		if n := pv.ModelDataDownloadTimeoutInSeconds; n != nil {
			v.Range(p+".modelDataDownloadTimeoutInSeconds", int64(*n), 60, 3600)
		}
		if n := pv.ContainerStartupHealthCheckTimeoutInSeconds; n != nil {
			v.Range(p+".containerStartupHealthCheckTimeoutInSeconds", int64(*n), 60, 3600)
		}
	}
}

func checkDataCapture(v *awsapi.Validator, d *hosting.DataCaptureConfig) {
	if d == nil {
		return
	}
	const p = "dataCaptureConfig"
	v.Range(p+".initialSamplingPercentage", int64(d.InitialSamplingPercentage), 0, 100)
	v.Required(p+".destinationS3Uri", d.DestinationS3Uri != "")
	checkOptional(v, p+".destinationS3Uri", d.DestinationS3Uri, 512, urlRE)
	v.Required(p+".captureOptions", d.CaptureOptions != nil)
	v.Check(len(d.CaptureOptions) <= 2, p+".captureOptions", len(d.CaptureOptions), "Member must have length less than or equal to 2")
	for i, o := range d.CaptureOptions {
		v.Enum(p+".captureOptions."+strconv.Itoa(i+1)+".member.captureMode", o.CaptureMode, "Input", "Output", "InputAndOutput")
	}
	if h := d.CaptureContentTypeHeader; h != nil {
		for _, l := range []struct {
			name string
			cts  []string
		}{{"csvContentTypes", h.CsvContentTypes}, {"jsonContentTypes", h.JsonContentTypes}} {
			v.Check(len(l.cts) <= 10, p+".captureContentTypeHeader."+l.name, len(l.cts), "Member must have length less than or equal to 10")
			for _, ct := range l.cts {
				v.Length(p+".captureContentTypeHeader."+l.name+".member", ct, 1, 256)
				v.Pattern(p+".captureContentTypeHeader."+l.name+".member", ct, mimeRE)
			}
		}
	}
}

// hostingList validates a list request and turns it into the hosting query. Sorting by Status
// is accepted for endpoints only.
func hostingList(req *listHostingRequest, what string, sortByStatus bool) (hosting.ListQuery, listParams, error) {
	var v awsapi.Validator
	if req.NameContains != "" {
		v.Length("nameContains", req.NameContains, 0, 63)
		v.Pattern("nameContains", req.NameContains, nameContainsRE)
	}
	sortBy := req.SortBy
	if sortByStatus && sortBy == "Status" {
		sortBy = ""
	}
	if req.StatusEquals != "" {
		v.Enum("statusEquals", req.StatusEquals, hosting.EndpointStatuses...)
	}
	lp, err := parseListParams(&v, sortBy, req.SortOrder, req.NextToken, req.MaxResults, what, req.SortBy, req.NameContains,
		timeKey(req.CreationTimeAfter), timeKey(req.CreationTimeBefore), timeKey(req.LastModifiedTimeAfter), timeKey(req.LastModifiedTimeBefore), req.StatusEquals)
	if err != nil {
		return hosting.ListQuery{}, lp, err
	}
	q := hosting.ListQuery{
		NameContains: req.NameContains, CreationTimeAfter: timeOf(req.CreationTimeAfter), CreationTimeBefore: timeOf(req.CreationTimeBefore),
		LastModifiedTimeAfter: timeOf(req.LastModifiedTimeAfter), LastModifiedTimeBefore: timeOf(req.LastModifiedTimeBefore),
		StatusEquals: req.StatusEquals, SortBy: store.EndpointsByCreationTime, Descending: req.SortOrder != "Ascending",
		After: lp.after, Limit: lp.limit,
	}
	switch {
	case req.SortBy == "Name":
		q.SortBy = store.EndpointsByName
	case req.SortBy == "Status" && sortByStatus:
		q.SortBy = store.EndpointsByStatus
	}
	return q, lp, nil
}

// --- models ---------------------------------------------------------------------------------

func (a *API) createModel(ctx context.Context, req *createModelRequest) (*createModelResponse, error) {
	var v awsapi.Validator
	checkName(&v, "modelName", req.ModelName)
	if req.PrimaryContainer != nil {
		checkContainer(&v, "primaryContainer", req.PrimaryContainer)
	}
	v.Check(len(req.Containers) <= hosting.MaxContainers, "containers", len(req.Containers), "Member must have length less than or equal to 15")
	for i := range req.Containers {
		checkContainer(&v, "containers."+strconv.Itoa(i+1)+".member", &req.Containers[i])
	}
	checkOptional(&v, "executionRoleArn", req.ExecutionRoleArn, 2048, jobRoleArnRE)
	validateTags(&v, "tags", req.Tags)
	if err := v.Err(); err != nil {
		return nil, err
	}
	m, err := a.Hosting.CreateModel(ctx, hosting.NewModel{
		ModelName: req.ModelName, PrimaryContainer: req.PrimaryContainer, Containers: req.Containers,
		InferenceExecutionConfig: nullable(req.InferenceExecutionConfig), ExecutionRoleArn: req.ExecutionRoleArn,
		VpcConfig: nullable(req.VpcConfig), EnableNetworkIsolation: req.EnableNetworkIsolation, Tags: storeTags(req.Tags),
	})
	if err != nil {
		return nil, hostingError(err)
	}
	return &createModelResponse{ModelArn: m.ModelArn}, nil
}

func (a *API) describeModel(ctx context.Context, req *modelRef) (*describeModelResponse, error) {
	var v awsapi.Validator
	checkName(&v, "modelName", req.ModelName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	m, err := a.Hosting.DescribeModel(ctx, req.ModelName)
	if err != nil {
		return nil, hostingError(err)
	}
	return &describeModelResponse{
		ModelName: m.ModelName, ModelArn: m.ModelArn, PrimaryContainer: m.PrimaryContainer, Containers: m.Containers,
		InferenceExecutionConfig: m.InferenceExecutionConfig, ExecutionRoleArn: m.ExecutionRoleArn, VpcConfig: m.VpcConfig,
		CreationTime: awsapi.NewTime(m.CreationTime), EnableNetworkIsolation: m.EnableNetworkIsolation,
	}, nil
}

func (a *API) listModels(ctx context.Context, req *listHostingRequest) (*listModelsResponse, error) {
	q, lp, err := hostingList(req, "models", false)
	if err != nil {
		return nil, err
	}
	page, err := a.Hosting.ListModels(ctx, q)
	if err != nil {
		return nil, hostingError(err)
	}
	resp := &listModelsResponse{Models: []modelSummary{}, NextToken: lp.token(page.Next)}
	for _, m := range page.Models {
		resp.Models = append(resp.Models, modelSummary{ModelName: m.ModelName, ModelArn: m.ModelArn, CreationTime: awsapi.NewTime(m.CreationTime)})
	}
	return resp, nil
}

func (a *API) deleteModel(ctx context.Context, req *modelRef) (*struct{}, error) {
	var v awsapi.Validator
	checkName(&v, "modelName", req.ModelName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return &struct{}{}, hostingError(a.Hosting.DeleteModel(ctx, req.ModelName))
}

// --- endpoint configs -----------------------------------------------------------------------

func (a *API) createEndpointConfig(ctx context.Context, req *createEndpointConfigRequest) (*createEndpointConfigResponse, error) {
	var v awsapi.Validator
	checkName(&v, "endpointConfigName", req.EndpointConfigName)
	v.Required("productionVariants", req.ProductionVariants != nil)
	checkVariants(&v, "productionVariants", req.ProductionVariants)
	checkVariants(&v, "shadowProductionVariants", req.ShadowProductionVariants)
	checkDataCapture(&v, req.DataCaptureConfig)
	checkOptional(&v, "kmsKeyId", req.KmsKeyId, 2048, nil)
	checkOptional(&v, "executionRoleArn", req.ExecutionRoleArn, 2048, jobRoleArnRE)
	validateTags(&v, "tags", req.Tags)
	if err := v.Err(); err != nil {
		return nil, err
	}
	c, err := a.Hosting.CreateEndpointConfig(ctx, hosting.EndpointConfig{
		EndpointConfigName: req.EndpointConfigName, ProductionVariants: req.ProductionVariants, DataCaptureConfig: req.DataCaptureConfig,
		ShadowProductionVariants: req.ShadowProductionVariants, KmsKeyId: req.KmsKeyId, AsyncInferenceConfig: nullable(req.AsyncInferenceConfig),
		ExplainerConfig: nullable(req.ExplainerConfig), ExecutionRoleArn: req.ExecutionRoleArn, VpcConfig: nullable(req.VpcConfig),
		EnableNetworkIsolation: req.EnableNetworkIsolation, MetricsConfig: nullable(req.MetricsConfig),
	}, storeTags(req.Tags))
	if err != nil {
		return nil, hostingError(err)
	}
	return &createEndpointConfigResponse{EndpointConfigArn: c.EndpointConfigArn}, nil
}

func (a *API) describeEndpointConfig(ctx context.Context, req *endpointConfigRef) (*describeEndpointConfigResponse, error) {
	var v awsapi.Validator
	checkName(&v, "endpointConfigName", req.EndpointConfigName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	c, err := a.Hosting.DescribeEndpointConfig(ctx, req.EndpointConfigName)
	if err != nil {
		return nil, hostingError(err)
	}
	return &describeEndpointConfigResponse{
		EndpointConfigName: c.EndpointConfigName, EndpointConfigArn: c.EndpointConfigArn, ProductionVariants: c.ProductionVariants,
		DataCaptureConfig: c.DataCaptureConfig, ShadowProductionVariants: c.ShadowProductionVariants, KmsKeyId: c.KmsKeyId,
		AsyncInferenceConfig: c.AsyncInferenceConfig, ExplainerConfig: c.ExplainerConfig, ExecutionRoleArn: c.ExecutionRoleArn,
		VpcConfig: c.VpcConfig, EnableNetworkIsolation: c.EnableNetworkIsolation, MetricsConfig: c.MetricsConfig,
		CreationTime: awsapi.NewTime(c.CreationTime),
	}, nil
}

func (a *API) listEndpointConfigs(ctx context.Context, req *listHostingRequest) (*listEndpointConfigsResponse, error) {
	q, lp, err := hostingList(req, "endpoint-configs", false)
	if err != nil {
		return nil, err
	}
	page, err := a.Hosting.ListEndpointConfigs(ctx, q)
	if err != nil {
		return nil, hostingError(err)
	}
	resp := &listEndpointConfigsResponse{EndpointConfigs: []endpointConfigSummary{}, NextToken: lp.token(page.Next)}
	for _, c := range page.EndpointConfigs {
		resp.EndpointConfigs = append(resp.EndpointConfigs, endpointConfigSummary{EndpointConfigName: c.EndpointConfigName,
			EndpointConfigArn: c.EndpointConfigArn, CreationTime: awsapi.NewTime(c.CreationTime)})
	}
	return resp, nil
}

func (a *API) deleteEndpointConfig(ctx context.Context, req *endpointConfigRef) (*struct{}, error) {
	var v awsapi.Validator
	checkName(&v, "endpointConfigName", req.EndpointConfigName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return &struct{}{}, hostingError(a.Hosting.DeleteEndpointConfig(ctx, req.EndpointConfigName))
}

// --- endpoints ------------------------------------------------------------------------------

func (a *API) createEndpoint(ctx context.Context, req *createEndpointRequest) (*endpointArnResponse, error) {
	var v awsapi.Validator
	checkName(&v, "endpointName", req.EndpointName)
	checkName(&v, "endpointConfigName", req.EndpointConfigName)
	validateTags(&v, "tags", req.Tags)
	if err := v.Err(); err != nil {
		return nil, err
	}
	e, err := a.Hosting.CreateEndpoint(ctx, req.EndpointName, req.EndpointConfigName, nullable(req.DeploymentConfig), storeTags(req.Tags))
	if err != nil {
		return nil, hostingError(err)
	}
	return &endpointArnResponse{EndpointArn: e.EndpointArn}, nil
}

func wireVariants(vs []hosting.VariantSummary) []variantSummary {
	var out []variantSummary
	for _, s := range vs {
		w := variantSummary{VariantName: s.VariantName, CurrentWeight: s.CurrentWeight, DesiredWeight: s.DesiredWeight,
			CurrentInstanceCount: s.CurrentInstanceCount, DesiredInstanceCount: s.DesiredInstanceCount}
		for _, d := range s.DeployedImages {
			w.DeployedImages = append(w.DeployedImages, deployedImage{SpecifiedImage: d.SpecifiedImage, ResolvedImage: d.ResolvedImage, ResolutionTime: awsapi.NewTime(d.ResolutionTime)})
		}
		for _, st := range s.VariantStatus {
			w.VariantStatus = append(w.VariantStatus, variantStatus{Status: st.Status, StatusMessage: st.StatusMessage, StartTime: awsapi.NewTime(st.StartTime)})
		}
		out = append(out, w)
	}
	return out
}

func (a *API) describeEndpoint(ctx context.Context, req *endpointRef) (*describeEndpointResponse, error) {
	var v awsapi.Validator
	checkName(&v, "endpointName", req.EndpointName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	e, err := a.Hosting.DescribeEndpoint(ctx, req.EndpointName)
	if err != nil {
		return nil, hostingError(err)
	}
	resp := &describeEndpointResponse{
		EndpointName: e.EndpointName, EndpointArn: e.EndpointArn, EndpointConfigName: e.EndpointConfigName,
		ProductionVariants: wireVariants(e.ProductionVariants), DataCaptureConfig: e.DataCaptureConfig, EndpointStatus: e.EndpointStatus,
		FailureReason: e.FailureReason, CreationTime: awsapi.NewTime(e.CreationTime), LastModifiedTime: awsapi.NewTime(e.LastModifiedTime),
		LastDeploymentConfig: e.LastDeploymentConfig, ShadowProductionVariants: wireVariants(e.ShadowProductionVariants),
	}
	if p := e.PendingDeploymentSummary; p != nil {
		resp.PendingDeploymentSummary = &pendingDeployment{EndpointConfigName: p.EndpointConfigName, StartTime: awsapi.NewTime(p.StartTime),
			ProductionVariants: wireVariants(p.ProductionVariants), ShadowProductionVariants: wireVariants(p.ShadowProductionVariants)}
		for i, s := range p.ProductionVariants {
			resp.PendingDeploymentSummary.ProductionVariants[i].InstanceType = s.InstanceType
		}
	}
	return resp, nil
}

func (a *API) listEndpoints(ctx context.Context, req *listHostingRequest) (*listEndpointsResponse, error) {
	q, lp, err := hostingList(req, "endpoints", true)
	if err != nil {
		return nil, err
	}
	page, err := a.Hosting.ListEndpoints(ctx, q)
	if err != nil {
		return nil, hostingError(err)
	}
	resp := &listEndpointsResponse{Endpoints: []endpointSummary{}, NextToken: lp.token(page.Next)}
	for _, e := range page.Endpoints {
		resp.Endpoints = append(resp.Endpoints, endpointSummary{EndpointName: e.EndpointName, EndpointArn: e.EndpointArn,
			CreationTime: awsapi.NewTime(e.CreationTime), LastModifiedTime: awsapi.NewTime(e.LastModifiedTime), EndpointStatus: e.EndpointStatus})
	}
	return resp, nil
}

func (a *API) updateEndpoint(ctx context.Context, req *updateEndpointRequest) (*endpointArnResponse, error) {
	var v awsapi.Validator
	checkName(&v, "endpointName", req.EndpointName)
	checkName(&v, "endpointConfigName", req.EndpointConfigName)
	v.Check(len(req.ExcludeRetainedVariantProperties) <= 3, "excludeRetainedVariantProperties", len(req.ExcludeRetainedVariantProperties), "Member must have length less than or equal to 3")
	var exclude []string
	for i, p := range req.ExcludeRetainedVariantProperties {
		v.Enum("excludeRetainedVariantProperties."+strconv.Itoa(i+1)+".member.variantPropertyType", p.VariantPropertyType, "DesiredInstanceCount", "DesiredWeight", "DataCaptureConfig")
		exclude = append(exclude, p.VariantPropertyType)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	e, err := a.Hosting.UpdateEndpoint(ctx, hosting.EndpointUpdate{
		EndpointName: req.EndpointName, EndpointConfigName: req.EndpointConfigName, RetainAllVariantProperties: req.RetainAllVariantProperties,
		ExcludeRetainedVariantProperties: exclude, DeploymentConfig: nullable(req.DeploymentConfig), RetainDeploymentConfig: req.RetainDeploymentConfig,
	})
	if err != nil {
		return nil, hostingError(err)
	}
	return &endpointArnResponse{EndpointArn: e.EndpointArn}, nil
}

func (a *API) updateEndpointWeightsAndCapacities(ctx context.Context, req *updateWeightsRequest) (*endpointArnResponse, error) {
	var v awsapi.Validator
	checkName(&v, "endpointName", req.EndpointName)
	v.Required("desiredWeightsAndCapacities", req.DesiredWeightsAndCapacities != nil)
	v.Check(len(req.DesiredWeightsAndCapacities) <= 10, "desiredWeightsAndCapacities", len(req.DesiredWeightsAndCapacities), "Member must have length less than or equal to 10")
	for i, d := range req.DesiredWeightsAndCapacities {
		p := "desiredWeightsAndCapacities." + strconv.Itoa(i+1) + ".member"
		checkName(&v, p+".variantName", d.VariantName)
		if d.DesiredWeight != nil {
			v.Check(*d.DesiredWeight >= 0, p+".desiredWeight", *d.DesiredWeight, "Member must have value greater than or equal to 0")
		}
		if d.DesiredInstanceCount != nil {
			v.Range(p+".desiredInstanceCount", int64(*d.DesiredInstanceCount), 0, math.MaxInt32)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	e, err := a.Hosting.UpdateWeightsAndCapacities(ctx, req.EndpointName, req.DesiredWeightsAndCapacities)
	if err != nil {
		return nil, hostingError(err)
	}
	return &endpointArnResponse{EndpointArn: e.EndpointArn}, nil
}

func (a *API) deleteEndpoint(ctx context.Context, req *endpointRef) (*struct{}, error) {
	var v awsapi.Validator
	checkName(&v, "endpointName", req.EndpointName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return &struct{}{}, hostingError(a.Hosting.DeleteEndpoint(ctx, req.EndpointName))
}
