package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/jobs"
)

// Processing and training jobs: CreateProcessingJob, DescribeProcessingJob, ListProcessingJobs,
// StopProcessingJob and the four training job operations. The request types are the jobs
// package's, which mirror SageMaker's shapes; this file checks the wire constraints of the
// service model and turns the runner's answers into SageMaker's responses and errors.

func (a *API) registerJobs(mux *awsapi.Mux) {
	mux.Handle("CreateProcessingJob", awsapi.Op(a.createProcessingJob))
	mux.Handle("DescribeProcessingJob", awsapi.Op(a.describeProcessingJob))
	mux.Handle("ListProcessingJobs", awsapi.Op(a.listProcessingJobs))
	mux.Handle("StopProcessingJob", awsapi.Op(a.stopProcessingJob))
	mux.Handle("CreateTrainingJob", awsapi.Op(a.createTrainingJob))
	mux.Handle("DescribeTrainingJob", awsapi.Op(a.describeTrainingJob))
	mux.Handle("ListTrainingJobs", awsapi.Op(a.listTrainingJobs))
	mux.Handle("StopTrainingJob", awsapi.Op(a.stopTrainingJob))
}

var (
	jobRoleArnRE    = regexp.MustCompile(`^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	jobS3URIRE      = regexp.MustCompile(`^(https|s3)://([^/]+)/?(.*)$`)
	jobEnvKeyRE     = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	jobChannelRE    = regexp.MustCompile(`^[A-Za-z0-9\.\-_]+$`)
	jobNameFilterRE = regexp.MustCompile(`^[a-zA-Z0-9\-]+$`)
	jobInstanceRE   = regexp.MustCompile(`^ml\.[a-z0-9\-]+\.[a-z0-9]+$`)
	jobStatuses     = []string{jobs.StatusInProgress, jobs.StatusCompleted, jobs.StatusFailed, jobs.StatusStopping, jobs.StatusStopped}
)

// jobError turns the runner's errors into SageMaker's.
func jobError(err error) error {
	var exists *jobs.ExistsError
	var inv *jobs.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jobs.ErrNotFound):
		return awsapi.Validation("Requested resource not found.")
	case errors.As(err, &exists):
		return awsapi.InUse("%s", exists.Error())
	case errors.As(err, &inv):
		return awsapi.Validation("%s", inv.Msg)
	}
	return err
}

func (a *API) jobsRunner() (*jobs.Runner, error) {
	if a.Jobs == nil {
		return nil, awsapi.NewError(awsapi.CodeServiceUnavailable, 503, "Jobs are not enabled on this server.")
	}
	return a.Jobs, nil
}

func jobCheckURI(v *awsapi.Validator, member, uri string) {
	v.Required(member, uri != "")
	if uri != "" {
		v.Length(member, uri, 0, 1024)
		v.Pattern(member, uri, jobS3URIRE)
	}
}

func jobCheckEnv(v *awsapi.Validator, member string, env map[string]string, maxEntries, maxLen int) {
	v.Check(len(env) <= maxEntries, member, len(env), fmt.Sprintf("Member must have length less than or equal to %d", maxEntries))
	for k, val := range env {
		v.Length(member+"."+k+".key", k, 0, maxLen)
		v.Pattern(member+"."+k+".key", k, jobEnvKeyRE)
		v.Length(member+"."+k+".value", val, 0, maxLen)
	}
}

func jobCheckStrings(v *awsapi.Validator, member string, list []string, min, max, maxLen int) {
	if list == nil {
		return
	}
	v.Check(len(list) >= min && len(list) <= max, member, len(list), fmt.Sprintf("Member must have length between %d and %d", min, max))
	for i, s := range list {
		v.Length(member+"."+strconv.Itoa(i+1)+".member", s, 0, maxLen)
	}
}

func checkJobTags(v *awsapi.Validator, tags []jobs.Tag) {
	wire := make([]Tag, len(tags))
	for i, t := range tags {
		wire[i] = Tag{Key: t.Key, Value: t.Value}
	}
	validateTags(v, "tags", wire)
}

func checkJobName(v *awsapi.Validator, member, name string) {
	v.Required(member, name != "")
	if name != "" {
		v.Length(member, name, 1, 63)
		v.Pattern(member, name, awsapi.NamePattern)
	}
}

func jobCheckRole(v *awsapi.Validator, role string) {
	v.Required("roleArn", role != "")
	if role != "" {
		v.Length("roleArn", role, 20, 2048)
		v.Pattern("roleArn", role, jobRoleArnRE)
	}
}

func jobCheckInstance(v *awsapi.Validator, member, t string) {
	if t != "" {
		v.Pattern(member, t, jobInstanceRE)
	}
}

// Processing jobs.

type createProcessingJobResponse struct {
	ProcessingJobArn string `json:"ProcessingJobArn"`
}

func validateProcessingRequest(req *jobs.ProcessingJobSpec) error {
	var v awsapi.Validator
	checkJobName(&v, "processingJobName", req.ProcessingJobName)
	jobCheckRole(&v, req.RoleArn)
	v.Required("processingResources", req.ProcessingResources != nil)
	if r := req.ProcessingResources; r != nil {
		v.Required("processingResources.clusterConfig", r.ClusterConfig != nil)
		if c := r.ClusterConfig; c != nil {
			v.Range("processingResources.clusterConfig.instanceCount", int64(c.InstanceCount), 1, 100)
			v.Required("processingResources.clusterConfig.instanceType", c.InstanceType != "")
			jobCheckInstance(&v, "processingResources.clusterConfig.instanceType", c.InstanceType)
			v.Range("processingResources.clusterConfig.volumeSizeInGB", int64(c.VolumeSizeInGB), 1, 16384)
		}
	}
	v.Required("appSpecification", req.AppSpecification != nil)
	if app := req.AppSpecification; app != nil {
		v.Required("appSpecification.imageUri", app.ImageUri != "")
		v.Length("appSpecification.imageUri", app.ImageUri, 0, 255)
		jobCheckStrings(&v, "appSpecification.containerEntrypoint", app.ContainerEntrypoint, 1, 100, 256)
		jobCheckStrings(&v, "appSpecification.containerArguments", app.ContainerArguments, 1, 100, 256)
	}
	if sc := req.StoppingCondition; sc != nil {
		v.Range("stoppingCondition.maxRuntimeInSeconds", int64(sc.MaxRuntimeInSeconds), 1, 604800)
	}
	jobCheckEnv(&v, "environment", req.Environment, 100, 256)
	v.Check(len(req.ProcessingInputs) <= 10, "processingInputs", len(req.ProcessingInputs), "Member must have length less than or equal to 10")
	for i, in := range req.ProcessingInputs {
		m := "processingInputs." + strconv.Itoa(i+1) + ".member"
		v.Required(m+".inputName", in.InputName != "")
		if s := in.S3Input; s != nil {
			jobCheckURI(&v, m+".s3Input.s3Uri", s.S3Uri)
			v.Length(m+".s3Input.localPath", s.LocalPath, 0, 256)
			v.Required(m+".s3Input.s3DataType", s.S3DataType != "")
			if s.S3DataType != "" {
				v.Enum(m+".s3Input.s3DataType", s.S3DataType, "ManifestFile", "S3Prefix")
			}
			if s.S3InputMode != "" {
				v.Enum(m+".s3Input.s3InputMode", s.S3InputMode, "Pipe", "File")
			}
			if s.S3DataDistributionType != "" {
				v.Enum(m+".s3Input.s3DataDistributionType", s.S3DataDistributionType, "FullyReplicated", "ShardedByS3Key")
			}
			if s.S3CompressionType != "" {
				v.Enum(m+".s3Input.s3CompressionType", s.S3CompressionType, "None", "Gzip")
			}
		}
	}
	if oc := req.ProcessingOutputConfig; oc != nil {
		v.Required("processingOutputConfig.outputs", oc.Outputs != nil)
		v.Check(len(oc.Outputs) <= 10, "processingOutputConfig.outputs", len(oc.Outputs), "Member must have length less than or equal to 10")
		for i, o := range oc.Outputs {
			m := "processingOutputConfig.outputs." + strconv.Itoa(i+1) + ".member"
			v.Required(m+".outputName", o.OutputName != "")
			if s := o.S3Output; s != nil {
				jobCheckURI(&v, m+".s3Output.s3Uri", s.S3Uri)
				v.Required(m+".s3Output.localPath", s.LocalPath != "")
				v.Length(m+".s3Output.localPath", s.LocalPath, 0, 256)
				v.Required(m+".s3Output.s3UploadMode", s.S3UploadMode != "")
				if s.S3UploadMode != "" {
					v.Enum(m+".s3Output.s3UploadMode", s.S3UploadMode, "Continuous", "EndOfJob")
				}
			}
		}
	}
	checkJobTags(&v, req.Tags)
	return v.Err()
}

func (a *API) createProcessingJob(ctx context.Context, req *jobs.ProcessingJobSpec) (*createProcessingJobResponse, error) {
	r, err := a.jobsRunner()
	if err != nil {
		return nil, err
	}
	if err := validateProcessingRequest(req); err != nil {
		return nil, err
	}
	arn, err := r.CreateProcessingJob(ctx, req)
	if err != nil {
		return nil, jobError(err)
	}
	return &createProcessingJobResponse{ProcessingJobArn: arn}, nil
}

type processingJobRef struct {
	ProcessingJobName string `json:"ProcessingJobName"`
}

type describeProcessingJobResponse struct {
	jobs.ProcessingJobSpec
	ProcessingJobArn    string       `json:"ProcessingJobArn"`
	ProcessingJobStatus string       `json:"ProcessingJobStatus"`
	ExitMessage         string       `json:"ExitMessage,omitempty"`
	FailureReason       string       `json:"FailureReason,omitempty"`
	ProcessingEndTime   *awsapi.Time `json:"ProcessingEndTime,omitempty"`
	ProcessingStartTime *awsapi.Time `json:"ProcessingStartTime,omitempty"`
	LastModifiedTime    *awsapi.Time `json:"LastModifiedTime,omitempty"`
	CreationTime        awsapi.Time  `json:"CreationTime"`
}

func (a *API) describeProcessingJob(ctx context.Context, req *processingJobRef) (*describeProcessingJobResponse, error) {
	r, err := a.jobsRunner()
	if err != nil {
		return nil, err
	}
	var v awsapi.Validator
	checkJobName(&v, "processingJobName", req.ProcessingJobName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	j, err := r.DescribeProcessingJob(ctx, req.ProcessingJobName)
	if err != nil {
		return nil, jobError(err)
	}
	return &describeProcessingJobResponse{
		ProcessingJobSpec:   j.ProcessingJobSpec,
		ProcessingJobArn:    j.ProcessingJobArn,
		ProcessingJobStatus: j.ProcessingJobStatus,
		ExitMessage:         j.ExitMessage,
		FailureReason:       j.FailureReason,
		ProcessingEndTime:   awsapi.TimePtr(j.ProcessingEndTime),
		ProcessingStartTime: awsapi.TimePtr(j.ProcessingStartTime),
		LastModifiedTime:    awsapi.TimePtr(j.LastModifiedTime),
		CreationTime:        awsapi.NewTime(j.CreationTime),
	}, nil
}

func (a *API) stopProcessingJob(ctx context.Context, req *processingJobRef) (*struct{}, error) {
	r, err := a.jobsRunner()
	if err != nil {
		return nil, err
	}
	var v awsapi.Validator
	checkJobName(&v, "processingJobName", req.ProcessingJobName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return &struct{}{}, jobError(r.StopProcessingJob(ctx, req.ProcessingJobName))
}

// listJobsRequest is the request of ListProcessingJobs and ListTrainingJobs.
type listJobsRequest struct {
	CreationTimeAfter      *awsapi.Time `json:"CreationTimeAfter"`
	CreationTimeBefore     *awsapi.Time `json:"CreationTimeBefore"`
	LastModifiedTimeAfter  *awsapi.Time `json:"LastModifiedTimeAfter"`
	LastModifiedTimeBefore *awsapi.Time `json:"LastModifiedTimeBefore"`
	NameContains           string       `json:"NameContains"`
	StatusEquals           string       `json:"StatusEquals"`
	SortBy                 string       `json:"SortBy"`
	SortOrder              string       `json:"SortOrder"`
	NextToken              string       `json:"NextToken"`
	MaxResults             *int32       `json:"MaxResults"`
	WarmPoolStatusEquals   string       `json:"WarmPoolStatusEquals"`
}

func jobTime(t *awsapi.Time) (out awsapi.Time) {
	if t != nil {
		out = *t
	}
	return out
}

// listJobs runs a list request for one kind and returns the page and the next token.
func (a *API) listJobs(ctx context.Context, kind jobs.Kind, req *listJobsRequest) ([]jobs.Summary, string, error) {
	r, err := a.jobsRunner()
	if err != nil {
		return nil, "", err
	}
	var v awsapi.Validator
	if req.NameContains != "" {
		v.Length("nameContains", req.NameContains, 0, 63)
		v.Pattern("nameContains", req.NameContains, jobNameFilterRE)
	}
	if req.StatusEquals != "" {
		v.Enum("statusEquals", req.StatusEquals, jobStatuses...)
	}
	if req.SortBy != "" {
		v.Enum("sortBy", req.SortBy, jobs.SortByName, jobs.SortByCreationTime, jobs.SortByStatus)
	}
	if req.SortOrder != "" {
		v.Enum("sortOrder", req.SortOrder, "Ascending", "Descending")
	}
	v.Length("nextToken", req.NextToken, 0, 8192)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	limit, err := awsapi.MaxResults(req.MaxResults, 10, 100)
	if err != nil {
		return nil, "", err
	}
	q := jobs.ListQuery{
		Kind: kind, NameContains: req.NameContains, Status: req.StatusEquals,
		CreatedAfter: jobTime(req.CreationTimeAfter).Time, CreatedBefore: jobTime(req.CreationTimeBefore).Time,
		ModifiedAfter: jobTime(req.LastModifiedTimeAfter).Time, ModifiedBefore: jobTime(req.LastModifiedTimeBefore).Time,
		SortBy: req.SortBy, Descending: req.SortOrder == "Descending",
		Limit: limit,
	}
	// A token belongs to one combination of filters and order.
	digest := fmt.Sprintf("%s|%s|%s|%s|%v|%v|%v|%v|%v", kind, q.NameContains, q.Status, q.SortBy, q.Descending,
		q.CreatedAfter.UnixNano(), q.CreatedBefore.UnixNano(), q.ModifiedAfter.UnixNano(), q.ModifiedBefore.UnixNano())
	tok, err := awsapi.DecodePageToken(req.NextToken, digest)
	if err != nil {
		return nil, "", err
	}
	if tok != nil {
		id, err := strconv.ParseInt(tok.ID, 10, 64)
		if err != nil {
			return nil, "", awsapi.Validation("Invalid pagination token; start again without NextToken.")
		}
		q.After = &jobs.Cursor{Sort: tok.Sort, ID: id}
	}
	page, next, err := r.List(ctx, q)
	if err != nil {
		return nil, "", err
	}
	token := ""
	if next != nil {
		token = awsapi.PageToken{Sort: next.Sort, ID: strconv.FormatInt(next.ID, 10), Query: digest}.Encode()
	}
	return page, token, nil
}

type processingJobSummary struct {
	ProcessingJobName   string       `json:"ProcessingJobName"`
	ProcessingJobArn    string       `json:"ProcessingJobArn"`
	CreationTime        awsapi.Time  `json:"CreationTime"`
	ProcessingEndTime   *awsapi.Time `json:"ProcessingEndTime,omitempty"`
	LastModifiedTime    *awsapi.Time `json:"LastModifiedTime,omitempty"`
	ProcessingJobStatus string       `json:"ProcessingJobStatus"`
	FailureReason       string       `json:"FailureReason,omitempty"`
	ExitMessage         string       `json:"ExitMessage,omitempty"`
}

type listProcessingJobsResponse struct {
	ProcessingJobSummaries []processingJobSummary `json:"ProcessingJobSummaries"`
	NextToken              string                 `json:"NextToken,omitempty"`
}

func (a *API) listProcessingJobs(ctx context.Context, req *listJobsRequest) (*listProcessingJobsResponse, error) {
	page, token, err := a.listJobs(ctx, jobs.KindProcessing, req)
	if err != nil {
		return nil, err
	}
	out := &listProcessingJobsResponse{ProcessingJobSummaries: []processingJobSummary{}, NextToken: token}
	for _, s := range page {
		out.ProcessingJobSummaries = append(out.ProcessingJobSummaries, processingJobSummary{
			ProcessingJobName: s.Name, ProcessingJobArn: s.ARN, CreationTime: awsapi.NewTime(s.CreationTime),
			ProcessingEndTime: awsapi.TimePtr(s.EndTime), LastModifiedTime: awsapi.TimePtr(s.LastModifiedTime),
			ProcessingJobStatus: s.Status, FailureReason: s.FailureReason, ExitMessage: s.ExitMessage,
		})
	}
	return out, nil
}

// Training jobs.

type createTrainingJobResponse struct {
	TrainingJobArn string `json:"TrainingJobArn"`
}

func validateTrainingRequest(req *jobs.TrainingJobSpec) error {
	var v awsapi.Validator
	checkJobName(&v, "trainingJobName", req.TrainingJobName)
	jobCheckRole(&v, req.RoleArn)
	v.Required("algorithmSpecification", req.AlgorithmSpecification != nil)
	if alg := req.AlgorithmSpecification; alg != nil {
		v.Length("algorithmSpecification.trainingImage", alg.TrainingImage, 0, 255)
		v.Required("algorithmSpecification.trainingInputMode", alg.TrainingInputMode != "")
		if alg.TrainingInputMode != "" {
			v.Enum("algorithmSpecification.trainingInputMode", alg.TrainingInputMode, "Pipe", "File", "FastFile")
		}
		v.Check(len(alg.MetricDefinitions) <= 40, "algorithmSpecification.metricDefinitions", len(alg.MetricDefinitions), "Member must have length less than or equal to 40")
		for i, m := range alg.MetricDefinitions {
			p := "algorithmSpecification.metricDefinitions." + strconv.Itoa(i+1) + ".member"
			v.Length(p+".name", m.Name, 1, 255)
			v.Length(p+".regex", m.Regex, 1, 500)
		}
		jobCheckStrings(&v, "algorithmSpecification.containerEntrypoint", alg.ContainerEntrypoint, 1, 10, 256)
		jobCheckStrings(&v, "algorithmSpecification.containerArguments", alg.ContainerArguments, 1, 100, 256)
	}
	v.Check(len(req.HyperParameters) <= 100, "hyperParameters", len(req.HyperParameters), "Member must have length less than or equal to 100")
	for k, val := range req.HyperParameters {
		v.Length("hyperParameters."+k+".key", k, 0, 256)
		v.Length("hyperParameters."+k+".value", val, 0, 2500)
	}
	if req.InputDataConfig != nil {
		v.Check(len(req.InputDataConfig) >= 1 && len(req.InputDataConfig) <= 20, "inputDataConfig", len(req.InputDataConfig), "Member must have length between 1 and 20")
	}
	for i, c := range req.InputDataConfig {
		m := "inputDataConfig." + strconv.Itoa(i+1) + ".member"
		v.Required(m+".channelName", c.ChannelName != "")
		if c.ChannelName != "" {
			v.Length(m+".channelName", c.ChannelName, 1, 64)
			v.Pattern(m+".channelName", c.ChannelName, jobChannelRE)
		}
		v.Required(m+".dataSource", c.DataSource != nil)
		if c.DataSource != nil && c.DataSource.S3DataSource != nil {
			s := c.DataSource.S3DataSource
			v.Required(m+".dataSource.s3DataSource.s3DataType", s.S3DataType != "")
			if s.S3DataType != "" {
				v.Enum(m+".dataSource.s3DataSource.s3DataType", s.S3DataType, "ManifestFile", "S3Prefix", "AugmentedManifestFile")
			}
			jobCheckURI(&v, m+".dataSource.s3DataSource.s3Uri", s.S3Uri)
			if s.S3DataDistributionType != "" {
				v.Enum(m+".dataSource.s3DataSource.s3DataDistributionType", s.S3DataDistributionType, "FullyReplicated", "ShardedByS3Key")
			}
		}
		if c.CompressionType != "" {
			v.Enum(m+".compressionType", c.CompressionType, "None", "Gzip")
		}
		if c.RecordWrapperType != "" {
			v.Enum(m+".recordWrapperType", c.RecordWrapperType, "None", "RecordIO")
		}
		if c.InputMode != "" {
			v.Enum(m+".inputMode", c.InputMode, "Pipe", "File", "FastFile")
		}
	}
	v.Required("outputDataConfig", req.OutputDataConfig != nil)
	if o := req.OutputDataConfig; o != nil {
		jobCheckURI(&v, "outputDataConfig.s3OutputPath", o.S3OutputPath)
	}
	v.Required("resourceConfig", req.ResourceConfig != nil)
	if rc := req.ResourceConfig; rc != nil {
		v.Check(rc.VolumeSizeInGB >= 1, "resourceConfig.volumeSizeInGB", rc.VolumeSizeInGB, "Member must have value greater than or equal to 1")
		if rc.InstanceCount != nil {
			v.Check(*rc.InstanceCount >= 0, "resourceConfig.instanceCount", *rc.InstanceCount, "Member must have value greater than or equal to 0")
		}
		jobCheckInstance(&v, "resourceConfig.instanceType", rc.InstanceType)
	}
	v.Required("stoppingCondition", req.StoppingCondition != nil)
	if sc := req.StoppingCondition; sc != nil && sc.MaxRuntimeInSeconds != 0 {
		v.Check(sc.MaxRuntimeInSeconds >= 1, "stoppingCondition.maxRuntimeInSeconds", sc.MaxRuntimeInSeconds, "Member must have value greater than or equal to 1")
	}
	jobCheckEnv(&v, "environment", req.Environment, 48, 512)
	checkJobTags(&v, req.Tags)
	return v.Err()
}

func (a *API) createTrainingJob(ctx context.Context, req *jobs.TrainingJobSpec) (*createTrainingJobResponse, error) {
	r, err := a.jobsRunner()
	if err != nil {
		return nil, err
	}
	if err := validateTrainingRequest(req); err != nil {
		return nil, err
	}
	arn, err := r.CreateTrainingJob(ctx, req)
	if err != nil {
		return nil, jobError(err)
	}
	return &createTrainingJobResponse{TrainingJobArn: arn}, nil
}

type trainingJobRef struct {
	TrainingJobName string `json:"TrainingJobName"`
}

type jobModelArtifacts struct {
	S3ModelArtifacts string `json:"S3ModelArtifacts"`
}

type jobMetricData struct {
	MetricName string      `json:"MetricName"`
	Value      float64     `json:"Value"`
	Timestamp  awsapi.Time `json:"Timestamp"`
}

type jobTransition struct {
	Status        string       `json:"Status"`
	StartTime     awsapi.Time  `json:"StartTime"`
	EndTime       *awsapi.Time `json:"EndTime,omitempty"`
	StatusMessage string       `json:"StatusMessage,omitempty"`
}

type describeTrainingJobResponse struct {
	jobs.TrainingJobSpec
	TrainingJobArn             string            `json:"TrainingJobArn"`
	TrainingJobStatus          string            `json:"TrainingJobStatus"`
	SecondaryStatus            string            `json:"SecondaryStatus"`
	FailureReason              string            `json:"FailureReason,omitempty"`
	ModelArtifacts             jobModelArtifacts `json:"ModelArtifacts"`
	FinalMetricDataList        []jobMetricData   `json:"FinalMetricDataList,omitempty"`
	SecondaryStatusTransitions []jobTransition   `json:"SecondaryStatusTransitions"`
	CreationTime               awsapi.Time       `json:"CreationTime"`
	TrainingStartTime          *awsapi.Time      `json:"TrainingStartTime,omitempty"`
	TrainingEndTime            *awsapi.Time      `json:"TrainingEndTime,omitempty"`
	LastModifiedTime           *awsapi.Time      `json:"LastModifiedTime,omitempty"`
	TrainingTimeInSeconds      *int              `json:"TrainingTimeInSeconds,omitempty"`
	BillableTimeInSeconds      *int              `json:"BillableTimeInSeconds,omitempty"`
}

func (a *API) describeTrainingJob(ctx context.Context, req *trainingJobRef) (*describeTrainingJobResponse, error) {
	r, err := a.jobsRunner()
	if err != nil {
		return nil, err
	}
	var v awsapi.Validator
	checkJobName(&v, "trainingJobName", req.TrainingJobName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	j, err := r.DescribeTrainingJob(ctx, req.TrainingJobName)
	if err != nil {
		return nil, jobError(err)
	}
	out := &describeTrainingJobResponse{
		TrainingJobSpec:            j.TrainingJobSpec,
		TrainingJobArn:             j.TrainingJobArn,
		TrainingJobStatus:          j.TrainingJobStatus,
		SecondaryStatus:            j.SecondaryStatus,
		FailureReason:              j.FailureReason,
		ModelArtifacts:             jobModelArtifacts{S3ModelArtifacts: j.S3ModelArtifacts},
		SecondaryStatusTransitions: []jobTransition{},
		CreationTime:               awsapi.NewTime(j.CreationTime),
		TrainingStartTime:          awsapi.TimePtr(j.TrainingStartTime),
		TrainingEndTime:            awsapi.TimePtr(j.TrainingEndTime),
		LastModifiedTime:           awsapi.TimePtr(j.LastModifiedTime),
	}
	for _, m := range j.FinalMetricDataList {
		out.FinalMetricDataList = append(out.FinalMetricDataList, jobMetricData{MetricName: m.MetricName, Value: m.Value, Timestamp: awsapi.NewTime(m.Timestamp)})
	}
	for _, t := range j.SecondaryStatusTransitions {
		out.SecondaryStatusTransitions = append(out.SecondaryStatusTransitions, jobTransition{
			Status: t.Status, StartTime: awsapi.NewTime(t.StartTime), EndTime: awsapi.TimePtr(t.EndTime), StatusMessage: t.StatusMessage,
		})
	}
	if j.TrainingTimeInSeconds > 0 {
		n := j.TrainingTimeInSeconds
		out.TrainingTimeInSeconds, out.BillableTimeInSeconds = &n, &n
	}
	return out, nil
}

func (a *API) stopTrainingJob(ctx context.Context, req *trainingJobRef) (*struct{}, error) {
	r, err := a.jobsRunner()
	if err != nil {
		return nil, err
	}
	var v awsapi.Validator
	checkJobName(&v, "trainingJobName", req.TrainingJobName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return &struct{}{}, jobError(r.StopTrainingJob(ctx, req.TrainingJobName))
}

type trainingJobSummary struct {
	TrainingJobName   string       `json:"TrainingJobName"`
	TrainingJobArn    string       `json:"TrainingJobArn"`
	CreationTime      awsapi.Time  `json:"CreationTime"`
	TrainingEndTime   *awsapi.Time `json:"TrainingEndTime,omitempty"`
	LastModifiedTime  *awsapi.Time `json:"LastModifiedTime,omitempty"`
	TrainingJobStatus string       `json:"TrainingJobStatus"`
	SecondaryStatus   string       `json:"SecondaryStatus,omitempty"`
}

type listTrainingJobsResponse struct {
	TrainingJobSummaries []trainingJobSummary `json:"TrainingJobSummaries"`
	NextToken            string               `json:"NextToken,omitempty"`
}

func (a *API) listTrainingJobs(ctx context.Context, req *listJobsRequest) (*listTrainingJobsResponse, error) {
	if req.WarmPoolStatusEquals != "" {
		var v awsapi.Validator
		v.Enum("warmPoolStatusEquals", req.WarmPoolStatusEquals, "Available", "Terminated", "Reused", "InUse")
		if err := v.Err(); err != nil {
			return nil, err
		}
		// No job here keeps a warm pool, so the filter matches nothing.
		return &listTrainingJobsResponse{TrainingJobSummaries: []trainingJobSummary{}}, nil
	}
	page, token, err := a.listJobs(ctx, jobs.KindTraining, req)
	if err != nil {
		return nil, err
	}
	out := &listTrainingJobsResponse{TrainingJobSummaries: []trainingJobSummary{}, NextToken: token}
	for _, s := range page {
		out.TrainingJobSummaries = append(out.TrainingJobSummaries, trainingJobSummary{
			TrainingJobName: s.Name, TrainingJobArn: s.ARN, CreationTime: awsapi.NewTime(s.CreationTime),
			TrainingEndTime: awsapi.TimePtr(s.EndTime), LastModifiedTime: awsapi.TimePtr(s.LastModifiedTime),
			TrainingJobStatus: s.Status, SecondaryStatus: s.SecondaryStatus,
		})
	}
	return out, nil
}
