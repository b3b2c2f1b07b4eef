package sagemaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/pipeline"
	"github.com/sluice-ml/sluice/internal/store"
)

// Pipelines: definitions, executions, their steps and callbacks (reference section 1.12).

func (a *API) registerPipelines(mux *awsapi.Mux) {
	if a.Pipelines == nil {
		return
	}
	mux.Handle("CreatePipeline", awsapi.Op(a.createPipeline))
	mux.Handle("UpdatePipeline", awsapi.Op(a.updatePipeline))
	mux.Handle("DescribePipeline", awsapi.Op(a.describePipeline))
	mux.Handle("ListPipelines", awsapi.Op(a.listPipelines))
	mux.Handle("DeletePipeline", awsapi.Op(a.deletePipeline))
	mux.Handle("StartPipelineExecution", awsapi.Op(a.startPipelineExecution))
	mux.Handle("DescribePipelineExecution", awsapi.Op(a.describePipelineExecution))
	mux.Handle("ListPipelineExecutions", awsapi.Op(a.listPipelineExecutions))
	mux.Handle("ListPipelineExecutionSteps", awsapi.Op(a.listPipelineExecutionSteps))
	mux.Handle("StopPipelineExecution", awsapi.Op(a.stopPipelineExecution))
	mux.Handle("RetryPipelineExecution", awsapi.Op(a.retryPipelineExecution))
	mux.Handle("UpdatePipelineExecution", awsapi.Op(a.updatePipelineExecution))
	mux.Handle("SendPipelineExecutionStepSuccess", awsapi.Op(a.sendPipelineExecutionStepSuccess))
	mux.Handle("SendPipelineExecutionStepFailure", awsapi.Op(a.sendPipelineExecutionStepFailure))
	mux.Handle("DescribePipelineDefinitionForExecution", awsapi.Op(a.describePipelineDefinitionForExecution))
	mux.Handle("ListPipelineParametersForExecution", awsapi.Op(a.listPipelineParametersForExecution))
}

// Patterns and limits from SageMaker's service model.
var (
	pipelineNameRE     = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$`)
	pipelineNameOrARN  = regexp.MustCompile(`^(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:pipeline/.*)?([a-zA-Z0-9](-*[a-zA-Z0-9]){0,255})$`)
	executionARNRE     = regexp.MustCompile(`^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:pipeline\/.*\/execution\/.*$`)
	execDisplayNameRE  = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,81}$`)
	parameterNameRE    = regexp.MustCompile(`^[A-Za-z0-9\-_]*$`)
	callbackTokenRE    = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
	idempotencyTokenRE = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)
	roleARNRE          = regexp.MustCompile(`^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
)

// pipelineError turns an engine error into SageMaker's error: a missing pipeline or execution is
// ResourceNotFound, a request that does not fit the state is ConflictException, and the rest is
// ValidationException.
func pipelineError(err error) error {
	var pe *pipeline.Error
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(pe, pipeline.ErrNotFound):
		return awsapi.NotFound("%s", pe.Message)
	case errors.Is(pe, pipeline.ErrConflict):
		return awsapi.Conflict("%s", pe.Message)
	}
	return awsapi.Validation("%s", pe.Message)
}

// --- wire types -----------------------------------------------------------------------------

type parallelismConfiguration struct {
	MaxParallelExecutionSteps *int `json:"MaxParallelExecutionSteps"`
}

func (p *parallelismConfiguration) domain() *pipeline.ParallelismConfiguration {
	if p == nil || p.MaxParallelExecutionSteps == nil {
		return nil
	}
	return &pipeline.ParallelismConfiguration{MaxParallelExecutionSteps: *p.MaxParallelExecutionSteps}
}

func wireParallelism(p *pipeline.ParallelismConfiguration) *parallelismConfiguration {
	if p == nil {
		return nil
	}
	n := p.MaxParallelExecutionSteps
	return &parallelismConfiguration{MaxParallelExecutionSteps: &n}
}

func checkParallelism(v *awsapi.Validator, member string, p *parallelismConfiguration) {
	if p == nil {
		return
	}
	v.Required(member+".maxParallelExecutionSteps", p.MaxParallelExecutionSteps != nil)
	if p.MaxParallelExecutionSteps != nil {
		v.Check(*p.MaxParallelExecutionSteps >= 1, member+".maxParallelExecutionSteps", *p.MaxParallelExecutionSteps, "Member must have value greater than or equal to 1")
	}
}

type s3Location struct {
	Bucket    string `json:"Bucket"`
	ObjectKey string `json:"ObjectKey"`
	VersionId string `json:"VersionId"`
}

func (l *s3Location) domain() *pipeline.S3Location {
	if l == nil {
		return nil
	}
	return &pipeline.S3Location{Bucket: l.Bucket, ObjectKey: l.ObjectKey, VersionID: l.VersionId}
}

func checkS3Location(v *awsapi.Validator, l *s3Location) {
	if l == nil {
		return
	}
	v.Required("pipelineDefinitionS3Location.bucket", l.Bucket != "")
	v.Required("pipelineDefinitionS3Location.objectKey", l.ObjectKey != "")
	if l.Bucket != "" {
		v.Length("pipelineDefinitionS3Location.bucket", l.Bucket, 3, 63)
	}
	if l.ObjectKey != "" {
		v.Length("pipelineDefinitionS3Location.objectKey", l.ObjectKey, 1, 1024)
	}
}

type parameter struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

func checkParameters(v *awsapi.Validator, member string, ps []parameter, max int) {
	v.Check(len(ps) <= max, member, len(ps), "Member must have length less than or equal to "+strconv.Itoa(max))
	for i, p := range ps {
		at := member + "." + strconv.Itoa(i+1) + ".member"
		v.Required(at+".name", p.Name != "")
		if p.Name != "" {
			v.Length(at+".name", p.Name, 1, 256)
			v.Pattern(at+".name", p.Name, parameterNameRE)
		}
		v.Length(at+".value", p.Value, 0, 1024)
	}
}

func domainParameters(ps []parameter) []pipeline.ParameterValue {
	out := make([]pipeline.ParameterValue, len(ps))
	for i, p := range ps {
		out[i] = pipeline.ParameterValue{Name: p.Name, Value: p.Value}
	}
	return out
}

func checkClientToken(v *awsapi.Validator, member, s string, required bool) {
	if required {
		v.Required(member, s != "")
	}
	if s != "" {
		v.Length(member, s, 32, 128)
	}
}

func checkPipelineNameOrARN(v *awsapi.Validator, member, s string) {
	v.Required(member, s != "")
	if s != "" {
		v.Length(member, s, 1, 2048)
		v.Pattern(member, s, pipelineNameOrARN)
	}
}

func checkExecutionARN(v *awsapi.Validator, member, s string) {
	v.Required(member, s != "")
	if s != "" {
		v.Length(member, s, 0, 2048)
		v.Pattern(member, s, executionARNRE)
	}
}

type createPipelineRequest struct {
	PipelineName                 string                    `json:"PipelineName"`
	PipelineDisplayName          string                    `json:"PipelineDisplayName"`
	PipelineDefinition           string                    `json:"PipelineDefinition"`
	PipelineDefinitionS3Location *s3Location               `json:"PipelineDefinitionS3Location"`
	PipelineDescription          string                    `json:"PipelineDescription"`
	ClientRequestToken           string                    `json:"ClientRequestToken"`
	RoleArn                      string                    `json:"RoleArn"`
	Tags                         []Tag                     `json:"Tags"`
	ParallelismConfiguration     *parallelismConfiguration `json:"ParallelismConfiguration"`
}

type pipelineARNResponse struct {
	PipelineArn string `json:"PipelineArn"`
}

type updatePipelineRequest struct {
	PipelineName                 string                    `json:"PipelineName"`
	PipelineDisplayName          *string                   `json:"PipelineDisplayName"`
	PipelineDefinition           string                    `json:"PipelineDefinition"`
	PipelineDefinitionS3Location *s3Location               `json:"PipelineDefinitionS3Location"`
	PipelineDescription          *string                   `json:"PipelineDescription"`
	RoleArn                      string                    `json:"RoleArn"`
	ParallelismConfiguration     *parallelismConfiguration `json:"ParallelismConfiguration"`
}

type updatePipelineResponse struct {
	PipelineArn       string `json:"PipelineArn"`
	PipelineVersionId int64  `json:"PipelineVersionId"`
}

type describePipelineRequest struct {
	PipelineName      string `json:"PipelineName"`
	PipelineVersionId *int64 `json:"PipelineVersionId"`
}

type describePipelineResponse struct {
	PipelineArn              string                    `json:"PipelineArn"`
	PipelineName             string                    `json:"PipelineName"`
	PipelineDisplayName      string                    `json:"PipelineDisplayName,omitempty"`
	PipelineDefinition       string                    `json:"PipelineDefinition"`
	PipelineDescription      string                    `json:"PipelineDescription,omitempty"`
	RoleArn                  string                    `json:"RoleArn,omitempty"`
	PipelineStatus           string                    `json:"PipelineStatus"`
	CreationTime             awsapi.Time               `json:"CreationTime"`
	LastModifiedTime         awsapi.Time               `json:"LastModifiedTime"`
	LastRunTime              *awsapi.Time              `json:"LastRunTime,omitempty"`
	CreatedBy                *userContext              `json:"CreatedBy,omitempty"`
	LastModifiedBy           *userContext              `json:"LastModifiedBy,omitempty"`
	ParallelismConfiguration *parallelismConfiguration `json:"ParallelismConfiguration,omitempty"`
}

type deletePipelineRequest struct {
	PipelineName       string `json:"PipelineName"`
	ClientRequestToken string `json:"ClientRequestToken"`
}

type listPipelinesRequest struct {
	PipelineNamePrefix string       `json:"PipelineNamePrefix"`
	CreatedAfter       *awsapi.Time `json:"CreatedAfter"`
	CreatedBefore      *awsapi.Time `json:"CreatedBefore"`
	SortBy             string       `json:"SortBy"`
	SortOrder          string       `json:"SortOrder"`
	NextToken          string       `json:"NextToken"`
	MaxResults         *int32       `json:"MaxResults"`
}

type pipelineSummary struct {
	PipelineArn         string       `json:"PipelineArn"`
	PipelineName        string       `json:"PipelineName"`
	PipelineDisplayName string       `json:"PipelineDisplayName,omitempty"`
	PipelineDescription string       `json:"PipelineDescription,omitempty"`
	RoleArn             string       `json:"RoleArn,omitempty"`
	CreationTime        awsapi.Time  `json:"CreationTime"`
	LastModifiedTime    awsapi.Time  `json:"LastModifiedTime"`
	LastExecutionTime   *awsapi.Time `json:"LastExecutionTime,omitempty"`
}

type listPipelinesResponse struct {
	PipelineSummaries []pipelineSummary `json:"PipelineSummaries"`
	NextToken         string            `json:"NextToken,omitempty"`
}

type startPipelineExecutionRequest struct {
	PipelineName                 string                    `json:"PipelineName"`
	PipelineExecutionDisplayName string                    `json:"PipelineExecutionDisplayName"`
	PipelineParameters           []parameter               `json:"PipelineParameters"`
	PipelineExecutionDescription string                    `json:"PipelineExecutionDescription"`
	ClientRequestToken           string                    `json:"ClientRequestToken"`
	ParallelismConfiguration     *parallelismConfiguration `json:"ParallelismConfiguration"`
	SelectiveExecutionConfig     json.RawMessage           `json:"SelectiveExecutionConfig"`
	PipelineVersionId            *int64                    `json:"PipelineVersionId"`
	MlflowExperimentName         string                    `json:"MlflowExperimentName"`
}

type executionARNResponse struct {
	PipelineExecutionArn string `json:"PipelineExecutionArn"`
}

type executionARNRequest struct {
	PipelineExecutionArn string `json:"PipelineExecutionArn"`
}

type experimentConfig struct {
	ExperimentName string `json:"ExperimentName,omitempty"`
	TrialName      string `json:"TrialName,omitempty"`
}

type describePipelineExecutionResponse struct {
	PipelineArn                  string                    `json:"PipelineArn"`
	PipelineExecutionArn         string                    `json:"PipelineExecutionArn"`
	PipelineExecutionDisplayName string                    `json:"PipelineExecutionDisplayName,omitempty"`
	PipelineExecutionStatus      string                    `json:"PipelineExecutionStatus"`
	PipelineExecutionDescription string                    `json:"PipelineExecutionDescription,omitempty"`
	PipelineExperimentConfig     *experimentConfig         `json:"PipelineExperimentConfig,omitempty"`
	FailureReason                string                    `json:"FailureReason,omitempty"`
	CreationTime                 awsapi.Time               `json:"CreationTime"`
	LastModifiedTime             awsapi.Time               `json:"LastModifiedTime"`
	CreatedBy                    *userContext              `json:"CreatedBy,omitempty"`
	LastModifiedBy               *userContext              `json:"LastModifiedBy,omitempty"`
	ParallelismConfiguration     *parallelismConfiguration `json:"ParallelismConfiguration,omitempty"`
	PipelineVersionId            int64                     `json:"PipelineVersionId,omitempty"`
}

type listPipelineExecutionsRequest struct {
	PipelineName  string       `json:"PipelineName"`
	CreatedAfter  *awsapi.Time `json:"CreatedAfter"`
	CreatedBefore *awsapi.Time `json:"CreatedBefore"`
	SortBy        string       `json:"SortBy"`
	SortOrder     string       `json:"SortOrder"`
	NextToken     string       `json:"NextToken"`
	MaxResults    *int32       `json:"MaxResults"`
}

type executionSummary struct {
	PipelineExecutionArn           string      `json:"PipelineExecutionArn"`
	StartTime                      awsapi.Time `json:"StartTime"`
	PipelineExecutionStatus        string      `json:"PipelineExecutionStatus"`
	PipelineExecutionDescription   string      `json:"PipelineExecutionDescription,omitempty"`
	PipelineExecutionDisplayName   string      `json:"PipelineExecutionDisplayName,omitempty"`
	PipelineExecutionFailureReason string      `json:"PipelineExecutionFailureReason,omitempty"`
}

type listPipelineExecutionsResponse struct {
	PipelineExecutionSummaries []executionSummary `json:"PipelineExecutionSummaries"`
	NextToken                  string             `json:"NextToken,omitempty"`
}

type listPipelineExecutionStepsRequest struct {
	PipelineExecutionArn string `json:"PipelineExecutionArn"`
	NextToken            string `json:"NextToken"`
	MaxResults           *int32 `json:"MaxResults"`
	SortOrder            string `json:"SortOrder"`
}

type cacheHitResult struct {
	SourcePipelineExecutionArn string `json:"SourcePipelineExecutionArn"`
}

type executionStep struct {
	StepName        string          `json:"StepName"`
	StepDisplayName string          `json:"StepDisplayName,omitempty"`
	StepDescription string          `json:"StepDescription,omitempty"`
	StartTime       *awsapi.Time    `json:"StartTime,omitempty"`
	EndTime         *awsapi.Time    `json:"EndTime,omitempty"`
	StepStatus      string          `json:"StepStatus"`
	CacheHitResult  *cacheHitResult `json:"CacheHitResult,omitempty"`
	FailureReason   string          `json:"FailureReason,omitempty"`
	Metadata        json.RawMessage `json:"Metadata,omitempty"`
	AttemptCount    int             `json:"AttemptCount"`
}

type listPipelineExecutionStepsResponse struct {
	PipelineExecutionSteps []executionStep `json:"PipelineExecutionSteps"`
	NextToken              string          `json:"NextToken,omitempty"`
}

type stopPipelineExecutionRequest struct {
	PipelineExecutionArn string `json:"PipelineExecutionArn"`
	ClientRequestToken   string `json:"ClientRequestToken"`
}

type retryPipelineExecutionRequest struct {
	PipelineExecutionArn     string                    `json:"PipelineExecutionArn"`
	ClientRequestToken       string                    `json:"ClientRequestToken"`
	ParallelismConfiguration *parallelismConfiguration `json:"ParallelismConfiguration"`
}

type updatePipelineExecutionRequest struct {
	PipelineExecutionArn         string                    `json:"PipelineExecutionArn"`
	PipelineExecutionDescription *string                   `json:"PipelineExecutionDescription"`
	PipelineExecutionDisplayName *string                   `json:"PipelineExecutionDisplayName"`
	ParallelismConfiguration     *parallelismConfiguration `json:"ParallelismConfiguration"`
}

type sendStepSuccessRequest struct {
	CallbackToken      string      `json:"CallbackToken"`
	OutputParameters   []parameter `json:"OutputParameters"`
	ClientRequestToken string      `json:"ClientRequestToken"`
}

type sendStepFailureRequest struct {
	CallbackToken      string `json:"CallbackToken"`
	FailureReason      string `json:"FailureReason"`
	ClientRequestToken string `json:"ClientRequestToken"`
}

type describeDefinitionForExecutionResponse struct {
	PipelineDefinition string      `json:"PipelineDefinition"`
	CreationTime       awsapi.Time `json:"CreationTime"`
}

type listParametersForExecutionRequest struct {
	PipelineExecutionArn string `json:"PipelineExecutionArn"`
	NextToken            string `json:"NextToken"`
	MaxResults           *int32 `json:"MaxResults"`
}

type listParametersForExecutionResponse struct {
	PipelineParameters []parameter `json:"PipelineParameters"`
	NextToken          string      `json:"NextToken,omitempty"`
}

// --- paging ---------------------------------------------------------------------------------

// pageDigest binds a NextToken to the list and filters it was issued for.
func pageDigest(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:8])
}

func decodeCursor(token, digest string) (*store.Cursor, error) {
	tok, err := awsapi.DecodePageToken(token, digest)
	if err != nil || tok == nil {
		return nil, err
	}
	id, err := strconv.ParseInt(tok.ID, 10, 64)
	if err != nil {
		return nil, awsapi.Validation("Invalid pagination token: start again without NextToken.")
	}
	return &store.Cursor{Sort: tok.Sort, ID: id}, nil
}

func encodeCursor(c *store.Cursor, digest string) string {
	if c == nil {
		return ""
	}
	return awsapi.PageToken{Sort: c.Sort, ID: strconv.FormatInt(c.ID, 10), Query: digest}.Encode()
}

// --- handlers -------------------------------------------------------------------------------

func (a *API) createPipeline(ctx context.Context, req *createPipelineRequest) (*pipelineARNResponse, error) {
	var v awsapi.Validator
	v.Required("PipelineName", req.PipelineName != "")
	if req.PipelineName != "" {
		v.Length("pipelineName", req.PipelineName, 1, 256)
		v.Pattern("pipelineName", req.PipelineName, pipelineNameRE)
	}
	if req.PipelineDisplayName != "" {
		v.Length("pipelineDisplayName", req.PipelineDisplayName, 1, 256)
		v.Pattern("pipelineDisplayName", req.PipelineDisplayName, pipelineNameRE)
	}
	if req.PipelineDefinition != "" {
		v.Length("pipelineDefinition", req.PipelineDefinition, 1, 1048576)
	}
	checkS3Location(&v, req.PipelineDefinitionS3Location)
	v.Length("pipelineDescription", req.PipelineDescription, 0, 3072)
	checkClientToken(&v, "clientRequestToken", req.ClientRequestToken, true)
	v.Required("RoleArn", req.RoleArn != "")
	if req.RoleArn != "" {
		v.Length("roleArn", req.RoleArn, 20, 2048)
		v.Pattern("roleArn", req.RoleArn, roleARNRE)
	}
	validateTags(&v, "tags", req.Tags)
	checkParallelism(&v, "parallelismConfiguration", req.ParallelismConfiguration)
	if err := v.Err(); err != nil {
		return nil, err
	}
	p, err := a.Pipelines.CreatePipeline(ctx, a.actor(ctx), pipeline.NewPipeline{
		Name: req.PipelineName, DisplayName: req.PipelineDisplayName, Description: req.PipelineDescription,
		RoleARN: req.RoleArn, Definition: req.PipelineDefinition, DefinitionS3: req.PipelineDefinitionS3Location.domain(),
		Parallelism: req.ParallelismConfiguration.domain(), ClientToken: req.ClientRequestToken, Tags: storeTags(req.Tags),
	})
	if err != nil {
		return nil, pipelineError(err)
	}
	return &pipelineARNResponse{PipelineArn: p.ARN}, nil
}

func (a *API) updatePipeline(ctx context.Context, req *updatePipelineRequest) (*updatePipelineResponse, error) {
	var v awsapi.Validator
	checkPipelineNameOrARN(&v, "pipelineName", req.PipelineName)
	if req.PipelineDisplayName != nil {
		v.Length("pipelineDisplayName", *req.PipelineDisplayName, 1, 256)
		v.Pattern("pipelineDisplayName", *req.PipelineDisplayName, pipelineNameRE)
	}
	if req.PipelineDefinition != "" {
		v.Length("pipelineDefinition", req.PipelineDefinition, 1, 1048576)
	}
	checkS3Location(&v, req.PipelineDefinitionS3Location)
	if req.PipelineDescription != nil {
		v.Length("pipelineDescription", *req.PipelineDescription, 0, 3072)
	}
	if req.RoleArn != "" {
		v.Length("roleArn", req.RoleArn, 20, 2048)
		v.Pattern("roleArn", req.RoleArn, roleARNRE)
	}
	checkParallelism(&v, "parallelismConfiguration", req.ParallelismConfiguration)
	if err := v.Err(); err != nil {
		return nil, err
	}
	p, err := a.Pipelines.UpdatePipeline(ctx, a.actor(ctx), pipeline.PipelineUpdate{
		Name: req.PipelineName, DisplayName: req.PipelineDisplayName, Description: req.PipelineDescription,
		RoleARN: req.RoleArn, Definition: req.PipelineDefinition, DefinitionS3: req.PipelineDefinitionS3Location.domain(),
		Parallelism: req.ParallelismConfiguration.domain(),
	})
	if err != nil {
		return nil, pipelineError(err)
	}
	return &updatePipelineResponse{PipelineArn: p.ARN, PipelineVersionId: p.VersionID}, nil
}

func (a *API) describePipeline(ctx context.Context, req *describePipelineRequest) (*describePipelineResponse, error) {
	var v awsapi.Validator
	checkPipelineNameOrARN(&v, "pipelineName", req.PipelineName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	p, err := a.Pipelines.DescribePipeline(ctx, req.PipelineName)
	if err != nil {
		return nil, pipelineError(err)
	}
	if req.PipelineVersionId != nil && *req.PipelineVersionId != p.VersionID {
		return nil, awsapi.NotFound("Pipeline %s has no version %d; this server keeps the current version (%d) only.", p.Name, *req.PipelineVersionId, p.VersionID)
	}
	return &describePipelineResponse{
		PipelineArn: p.ARN, PipelineName: p.Name, PipelineDisplayName: p.DisplayName, PipelineDefinition: p.Definition,
		PipelineDescription: p.Description, RoleArn: p.RoleARN, PipelineStatus: p.Status,
		CreationTime: awsapi.NewTime(p.CreatedAt), LastModifiedTime: awsapi.NewTime(p.UpdatedAt), LastRunTime: awsapi.TimePtr(p.LastRunAt),
		CreatedBy: wireUser(p.CreatedBy), LastModifiedBy: wireUser(p.ModifiedBy), ParallelismConfiguration: wireParallelism(p.Parallelism),
	}, nil
}

func (a *API) deletePipeline(ctx context.Context, req *deletePipelineRequest) (*pipelineARNResponse, error) {
	var v awsapi.Validator
	checkPipelineNameOrARN(&v, "pipelineName", req.PipelineName)
	checkClientToken(&v, "clientRequestToken", req.ClientRequestToken, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	arn, err := a.Pipelines.DeletePipeline(ctx, req.PipelineName)
	if err != nil {
		return nil, pipelineError(err)
	}
	return &pipelineARNResponse{PipelineArn: arn}, nil
}

func checkListOrder(v *awsapi.Validator, maxResults *int32, nextToken, sortOrder string) {
	if sortOrder != "" {
		v.Enum("sortOrder", sortOrder, "Ascending", "Descending")
	}
	v.Length("nextToken", nextToken, 0, 8192)
	if maxResults != nil {
		v.Range("maxResults", int64(*maxResults), 1, 100)
	}
}

func (a *API) listPipelines(ctx context.Context, req *listPipelinesRequest) (*listPipelinesResponse, error) {
	var v awsapi.Validator
	if req.PipelineNamePrefix != "" {
		v.Length("pipelineNamePrefix", req.PipelineNamePrefix, 1, 256)
		v.Pattern("pipelineNamePrefix", req.PipelineNamePrefix, pipelineNameRE)
	}
	if req.SortBy != "" {
		v.Enum("sortBy", req.SortBy, pipeline.SortByName, pipeline.SortByCreationTime)
	}
	checkListOrder(&v, req.MaxResults, req.NextToken, req.SortOrder)
	if err := v.Err(); err != nil {
		return nil, err
	}
	limit, _ := awsapi.MaxResults(req.MaxResults, 10, 100)
	digest := pageDigest("pipelines", req.PipelineNamePrefix, timeKey(req.CreatedAfter), timeKey(req.CreatedBefore), req.SortBy, req.SortOrder)
	after, err := decodeCursor(req.NextToken, digest)
	if err != nil {
		return nil, err
	}
	page, err := a.Pipelines.ListPipelines(ctx, pipeline.PipelineQuery{
		NamePrefix: req.PipelineNamePrefix, CreatedAfter: timeOf(req.CreatedAfter), CreatedBefore: timeOf(req.CreatedBefore),
		SortBy: req.SortBy, Descending: req.SortOrder != "Ascending", After: after, Limit: limit,
	})
	if err != nil {
		return nil, pipelineError(err)
	}
	resp := &listPipelinesResponse{PipelineSummaries: []pipelineSummary{}, NextToken: encodeCursor(page.Next, digest)}
	for _, p := range page.Pipelines {
		resp.PipelineSummaries = append(resp.PipelineSummaries, pipelineSummary{
			PipelineArn: p.ARN, PipelineName: p.Name, PipelineDisplayName: p.DisplayName, PipelineDescription: p.Description,
			RoleArn: p.RoleARN, CreationTime: awsapi.NewTime(p.CreatedAt), LastModifiedTime: awsapi.NewTime(p.UpdatedAt),
			LastExecutionTime: awsapi.TimePtr(p.LastRunAt),
		})
	}
	return resp, nil
}

func (a *API) startPipelineExecution(ctx context.Context, req *startPipelineExecutionRequest) (*executionARNResponse, error) {
	var v awsapi.Validator
	checkPipelineNameOrARN(&v, "pipelineName", req.PipelineName)
	if req.PipelineExecutionDisplayName != "" {
		v.Length("pipelineExecutionDisplayName", req.PipelineExecutionDisplayName, 1, 82)
		v.Pattern("pipelineExecutionDisplayName", req.PipelineExecutionDisplayName, execDisplayNameRE)
	}
	checkParameters(&v, "pipelineParameters", req.PipelineParameters, 200)
	v.Length("pipelineExecutionDescription", req.PipelineExecutionDescription, 0, 3072)
	checkClientToken(&v, "clientRequestToken", req.ClientRequestToken, true)
	checkParallelism(&v, "parallelismConfiguration", req.ParallelismConfiguration)
	if req.PipelineVersionId != nil {
		v.Check(*req.PipelineVersionId >= 1, "pipelineVersionId", *req.PipelineVersionId, "Member must have value greater than or equal to 1")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if len(nullable(req.SelectiveExecutionConfig)) > 0 {
		return nil, awsapi.Validation("SelectiveExecutionConfig is not supported by this server; start a full execution, or retry a failed one with RetryPipelineExecution.")
	}
	var version int64
	if req.PipelineVersionId != nil {
		version = *req.PipelineVersionId
	}
	x, err := a.Pipelines.StartExecution(ctx, a.actor(ctx), pipeline.StartRequest{
		Pipeline: req.PipelineName, DisplayName: req.PipelineExecutionDisplayName, Description: req.PipelineExecutionDescription,
		Parameters: domainParameters(req.PipelineParameters), Parallelism: req.ParallelismConfiguration.domain(),
		ClientToken: req.ClientRequestToken, PipelineVersionID: version,
	})
	if err != nil {
		return nil, pipelineError(err)
	}
	return &executionARNResponse{PipelineExecutionArn: x.ARN}, nil
}

func (a *API) describePipelineExecution(ctx context.Context, req *executionARNRequest) (*describePipelineExecutionResponse, error) {
	var v awsapi.Validator
	checkExecutionARN(&v, "pipelineExecutionArn", req.PipelineExecutionArn)
	if err := v.Err(); err != nil {
		return nil, err
	}
	x, err := a.Pipelines.DescribeExecution(ctx, req.PipelineExecutionArn)
	if err != nil {
		return nil, pipelineError(err)
	}
	resp := &describePipelineExecutionResponse{
		PipelineArn: x.PipelineARN, PipelineExecutionArn: x.ARN, PipelineExecutionDisplayName: x.DisplayName,
		PipelineExecutionStatus: x.Status, PipelineExecutionDescription: x.Description, FailureReason: x.FailureReason,
		CreationTime: awsapi.NewTime(x.CreatedAt), LastModifiedTime: awsapi.NewTime(x.UpdatedAt),
		CreatedBy: wireUser(x.CreatedBy), LastModifiedBy: wireUser(x.ModifiedBy),
		ParallelismConfiguration: wireParallelism(x.Parallelism), PipelineVersionId: x.VersionID,
	}
	if len(x.Experiment) > 0 {
		resp.PipelineExperimentConfig = &experimentConfig{ExperimentName: x.Experiment["ExperimentName"], TrialName: x.Experiment["TrialName"]}
	}
	return resp, nil
}

func (a *API) listPipelineExecutions(ctx context.Context, req *listPipelineExecutionsRequest) (*listPipelineExecutionsResponse, error) {
	var v awsapi.Validator
	checkPipelineNameOrARN(&v, "pipelineName", req.PipelineName)
	if req.SortBy != "" {
		v.Enum("sortBy", req.SortBy, pipeline.SortByCreationTime, pipeline.SortByExecutionARN)
	}
	checkListOrder(&v, req.MaxResults, req.NextToken, req.SortOrder)
	if err := v.Err(); err != nil {
		return nil, err
	}
	limit, _ := awsapi.MaxResults(req.MaxResults, 10, 100)
	digest := pageDigest("executions", req.PipelineName, timeKey(req.CreatedAfter), timeKey(req.CreatedBefore), req.SortBy, req.SortOrder)
	after, err := decodeCursor(req.NextToken, digest)
	if err != nil {
		return nil, err
	}
	page, err := a.Pipelines.ListExecutions(ctx, pipeline.ExecutionQuery{
		Pipeline: req.PipelineName, CreatedAfter: timeOf(req.CreatedAfter), CreatedBefore: timeOf(req.CreatedBefore),
		SortBy: req.SortBy, Descending: req.SortOrder != "Ascending", After: after, Limit: limit,
	})
	if err != nil {
		return nil, pipelineError(err)
	}
	resp := &listPipelineExecutionsResponse{PipelineExecutionSummaries: []executionSummary{}, NextToken: encodeCursor(page.Next, digest)}
	for _, x := range page.Executions {
		resp.PipelineExecutionSummaries = append(resp.PipelineExecutionSummaries, executionSummary{
			PipelineExecutionArn: x.ARN, StartTime: awsapi.NewTime(x.CreatedAt), PipelineExecutionStatus: x.Status,
			PipelineExecutionDescription: x.Description, PipelineExecutionDisplayName: x.DisplayName,
			PipelineExecutionFailureReason: x.FailureReason,
		})
	}
	return resp, nil
}

func (a *API) listPipelineExecutionSteps(ctx context.Context, req *listPipelineExecutionStepsRequest) (*listPipelineExecutionStepsResponse, error) {
	var v awsapi.Validator
	checkExecutionARN(&v, "pipelineExecutionArn", req.PipelineExecutionArn)
	checkListOrder(&v, req.MaxResults, req.NextToken, req.SortOrder)
	if err := v.Err(); err != nil {
		return nil, err
	}
	limit, _ := awsapi.MaxResults(req.MaxResults, 10, 100)
	digest := pageDigest("steps", req.PipelineExecutionArn, req.SortOrder)
	after, err := decodeCursor(req.NextToken, digest)
	if err != nil {
		return nil, err
	}
	q := pipeline.StepQuery{Execution: req.PipelineExecutionArn, Ascending: req.SortOrder == "Ascending", Limit: limit}
	if after != nil {
		q.AfterID = after.ID
	}
	page, err := a.Pipelines.ListSteps(ctx, q)
	if err != nil {
		return nil, pipelineError(err)
	}
	resp := &listPipelineExecutionStepsResponse{PipelineExecutionSteps: []executionStep{}}
	if page.Next != 0 {
		resp.NextToken = encodeCursor(&store.Cursor{ID: page.Next}, digest)
	}
	for _, s := range page.Steps {
		w := executionStep{
			StepName: s.Name, StepDisplayName: s.DisplayName, StepDescription: s.Description, StepStatus: s.Status,
			StartTime: awsapi.TimePtr(s.StartTime), EndTime: awsapi.TimePtr(s.EndTime), FailureReason: s.FailureReason,
			AttemptCount: s.AttemptCount,
		}
		if md := nullable(s.Metadata); len(md) > 0 && string(md) != "{}" {
			w.Metadata = md
		} else {
			w.Metadata = json.RawMessage(`{}`)
		}
		if s.CacheSource != "" {
			w.CacheHitResult = &cacheHitResult{SourcePipelineExecutionArn: s.CacheSource}
		}
		resp.PipelineExecutionSteps = append(resp.PipelineExecutionSteps, w)
	}
	return resp, nil
}

func (a *API) stopPipelineExecution(ctx context.Context, req *stopPipelineExecutionRequest) (*executionARNResponse, error) {
	var v awsapi.Validator
	checkExecutionARN(&v, "pipelineExecutionArn", req.PipelineExecutionArn)
	checkClientToken(&v, "clientRequestToken", req.ClientRequestToken, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	x, err := a.Pipelines.StopExecution(ctx, a.actor(ctx), req.PipelineExecutionArn)
	if err != nil {
		return nil, pipelineError(err)
	}
	return &executionARNResponse{PipelineExecutionArn: x.ARN}, nil
}

func (a *API) retryPipelineExecution(ctx context.Context, req *retryPipelineExecutionRequest) (*executionARNResponse, error) {
	var v awsapi.Validator
	checkExecutionARN(&v, "pipelineExecutionArn", req.PipelineExecutionArn)
	checkClientToken(&v, "clientRequestToken", req.ClientRequestToken, true)
	checkParallelism(&v, "parallelismConfiguration", req.ParallelismConfiguration)
	if err := v.Err(); err != nil {
		return nil, err
	}
	x, err := a.Pipelines.RetryExecution(ctx, a.actor(ctx), req.PipelineExecutionArn, req.ParallelismConfiguration.domain())
	if err != nil {
		return nil, pipelineError(err)
	}
	return &executionARNResponse{PipelineExecutionArn: x.ARN}, nil
}

func (a *API) updatePipelineExecution(ctx context.Context, req *updatePipelineExecutionRequest) (*executionARNResponse, error) {
	var v awsapi.Validator
	checkExecutionARN(&v, "pipelineExecutionArn", req.PipelineExecutionArn)
	if req.PipelineExecutionDisplayName != nil {
		v.Length("pipelineExecutionDisplayName", *req.PipelineExecutionDisplayName, 1, 82)
		v.Pattern("pipelineExecutionDisplayName", *req.PipelineExecutionDisplayName, execDisplayNameRE)
	}
	if req.PipelineExecutionDescription != nil {
		v.Length("pipelineExecutionDescription", *req.PipelineExecutionDescription, 0, 3072)
	}
	checkParallelism(&v, "parallelismConfiguration", req.ParallelismConfiguration)
	if err := v.Err(); err != nil {
		return nil, err
	}
	x, err := a.Pipelines.UpdateExecution(ctx, a.actor(ctx), req.PipelineExecutionArn, pipeline.ExecutionUpdate{
		DisplayName: req.PipelineExecutionDisplayName, Description: req.PipelineExecutionDescription,
		Parallelism: req.ParallelismConfiguration.domain(),
	})
	if err != nil {
		return nil, pipelineError(err)
	}
	return &executionARNResponse{PipelineExecutionArn: x.ARN}, nil
}

func checkCallbackToken(v *awsapi.Validator, token string) {
	v.Required("CallbackToken", token != "")
	if token != "" {
		v.Length("callbackToken", token, 1, 10)
		v.Pattern("callbackToken", token, callbackTokenRE)
	}
}

func (a *API) sendPipelineExecutionStepSuccess(ctx context.Context, req *sendStepSuccessRequest) (*executionARNResponse, error) {
	var v awsapi.Validator
	checkCallbackToken(&v, req.CallbackToken)
	checkParameters(&v, "outputParameters", req.OutputParameters, 50)
	checkClientToken(&v, "clientRequestToken", req.ClientRequestToken, false)
	if err := v.Err(); err != nil {
		return nil, err
	}
	arn, err := a.Pipelines.SendStepSuccess(ctx, req.CallbackToken, domainParameters(req.OutputParameters))
	if err != nil {
		return nil, pipelineError(err)
	}
	return &executionARNResponse{PipelineExecutionArn: arn}, nil
}

func (a *API) sendPipelineExecutionStepFailure(ctx context.Context, req *sendStepFailureRequest) (*executionARNResponse, error) {
	var v awsapi.Validator
	checkCallbackToken(&v, req.CallbackToken)
	v.Length("failureReason", req.FailureReason, 0, 256)
	checkClientToken(&v, "clientRequestToken", req.ClientRequestToken, false)
	if err := v.Err(); err != nil {
		return nil, err
	}
	arn, err := a.Pipelines.SendStepFailure(ctx, req.CallbackToken, req.FailureReason)
	if err != nil {
		return nil, pipelineError(err)
	}
	return &executionARNResponse{PipelineExecutionArn: arn}, nil
}

func (a *API) describePipelineDefinitionForExecution(ctx context.Context, req *executionARNRequest) (*describeDefinitionForExecutionResponse, error) {
	var v awsapi.Validator
	checkExecutionARN(&v, "pipelineExecutionArn", req.PipelineExecutionArn)
	if err := v.Err(); err != nil {
		return nil, err
	}
	x, err := a.Pipelines.DescribeExecution(ctx, req.PipelineExecutionArn)
	if err != nil {
		return nil, pipelineError(err)
	}
	return &describeDefinitionForExecutionResponse{PipelineDefinition: x.Definition, CreationTime: awsapi.NewTime(x.CreatedAt)}, nil
}

func (a *API) listPipelineParametersForExecution(ctx context.Context, req *listParametersForExecutionRequest) (*listParametersForExecutionResponse, error) {
	var v awsapi.Validator
	checkExecutionARN(&v, "pipelineExecutionArn", req.PipelineExecutionArn)
	checkListOrder(&v, req.MaxResults, req.NextToken, "")
	if err := v.Err(); err != nil {
		return nil, err
	}
	limit, _ := awsapi.MaxResults(req.MaxResults, 50, 100)
	digest := pageDigest("parameters", req.PipelineExecutionArn)
	after, err := decodeCursor(req.NextToken, digest)
	if err != nil {
		return nil, err
	}
	params, err := a.Pipelines.ExecutionParameters(ctx, req.PipelineExecutionArn)
	if err != nil {
		return nil, pipelineError(err)
	}
	start := 0
	if after != nil {
		start = int(after.ID)
	}
	resp := &listParametersForExecutionResponse{PipelineParameters: []parameter{}}
	for i := start; i < len(params) && i < start+limit; i++ {
		resp.PipelineParameters = append(resp.PipelineParameters, parameter{Name: params[i].Name, Value: params[i].Value})
	}
	if start+limit < len(params) {
		resp.NextToken = encodeCursor(&store.Cursor{ID: int64(start + limit)}, digest)
	}
	return resp, nil
}
