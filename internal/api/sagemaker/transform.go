package sagemaker

import (
	"context"
	"regexp"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/transform"
)

// Batch transform: CreateTransformJob, DescribeTransformJob, ListTransformJobs and
// StopTransformJob. The request type is the transform package's, which mirrors SageMaker's
// shape; this file checks the wire constraints of the service model and turns the service's
// answers into SageMaker's responses and errors (the job errors of jobs.go).

func (a *API) registerTransform(mux *awsapi.Mux) {
	mux.Handle("CreateTransformJob", awsapi.Op(a.createTransformJob))
	mux.Handle("DescribeTransformJob", awsapi.Op(a.describeTransformJob))
	mux.Handle("ListTransformJobs", awsapi.Op(a.listTransformJobs))
	mux.Handle("StopTransformJob", awsapi.Op(a.stopTransformJob))
}

// transformEnvKeyRE is SageMaker's key pattern; its length limit (1024) is checked apart because
// Go's regexp caps repeat counts at 1000.
var transformEnvKeyRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (a *API) transforms() (*transform.Service, error) {
	if a.Transforms == nil {
		return nil, awsapi.NewError(awsapi.CodeServiceUnavailable, 503, "Batch transform is not enabled on this server.")
	}
	return a.Transforms, nil
}

type createTransformJobResponse struct {
	TransformJobArn string `json:"TransformJobArn"`
}

func validateTransformRequest(req *transform.Spec) error {
	var v awsapi.Validator
	checkJobName(&v, "transformJobName", req.TransformJobName)
	v.Required("modelName", req.ModelName != "")
	if req.ModelName != "" {
		v.Length("modelName", req.ModelName, 0, 63)
		v.Pattern("modelName", req.ModelName, awsapi.NamePattern)
	}
	if n := req.MaxConcurrentTransforms; n != nil {
		v.Check(*n >= 0, "maxConcurrentTransforms", *n, "Member must have value greater than or equal to 0")
	}
	if n := req.MaxPayloadInMB; n != nil {
		v.Check(*n >= 0, "maxPayloadInMB", *n, "Member must have value greater than or equal to 0")
	}
	if mc := req.ModelClientConfig; mc != nil {
		if t := mc.InvocationsTimeoutInSeconds; t != nil {
			v.Range("modelClientConfig.invocationsTimeoutInSeconds", int64(*t), 1, 3600)
		}
		if r := mc.InvocationsMaxRetries; r != nil {
			v.Range("modelClientConfig.invocationsMaxRetries", int64(*r), 0, 3)
		}
	}
	if req.BatchStrategy != "" {
		v.Enum("batchStrategy", req.BatchStrategy, transform.StrategyMultiRecord, transform.StrategySingleRecord)
	}
	v.Check(len(req.Environment) <= 16, "environment", len(req.Environment), "Member must have length less than or equal to 16")
	for k, val := range req.Environment {
		v.Length("environment."+k+".key", k, 1, 1024)
		v.Length("environment."+k+".key", k, 0, 1024)
		v.Pattern("environment."+k+".key", k, transformEnvKeyRE)
		v.Length("environment."+k+".value", val, 0, 10240)
	}
	v.Required("transformInput", req.TransformInput != nil)
	if in := req.TransformInput; in != nil {
		v.Required("transformInput.dataSource", in.DataSource != nil)
		if in.DataSource != nil {
			s3 := in.DataSource.S3DataSource
			v.Required("transformInput.dataSource.s3DataSource", s3 != nil)
			if s3 != nil {
				v.Required("transformInput.dataSource.s3DataSource.s3DataType", s3.S3DataType != "")
				if s3.S3DataType != "" {
					v.Enum("transformInput.dataSource.s3DataSource.s3DataType", s3.S3DataType,
						transform.DataManifestFile, transform.DataS3Prefix, transform.DataAugmentedManifestFile)
				}
				jobCheckURI(&v, "transformInput.dataSource.s3DataSource.s3Uri", s3.S3Uri)
			}
		}
		v.Length("transformInput.contentType", in.ContentType, 0, 256)
		if in.CompressionType != "" {
			v.Enum("transformInput.compressionType", in.CompressionType, transform.CompressionNone, transform.CompressionGzip)
		}
		if in.SplitType != "" {
			v.Enum("transformInput.splitType", in.SplitType, transform.SplitNone, transform.SplitLine, transform.SplitRecordIO, transform.SplitTFRecord)
		}
	}
	v.Required("transformOutput", req.TransformOutput != nil)
	if out := req.TransformOutput; out != nil {
		jobCheckURI(&v, "transformOutput.s3OutputPath", out.S3OutputPath)
		v.Length("transformOutput.accept", out.Accept, 0, 256)
		if out.AssembleWith != "" {
			v.Enum("transformOutput.assembleWith", out.AssembleWith, transform.AssembleNone, transform.AssembleLine)
		}
		v.Length("transformOutput.kmsKeyId", out.KmsKeyId, 0, 2048)
	}
	v.Required("transformResources", req.TransformResources != nil)
	if r := req.TransformResources; r != nil {
		v.Required("transformResources.instanceType", r.InstanceType != "")
		jobCheckInstance(&v, "transformResources.instanceType", r.InstanceType)
		v.Check(r.InstanceCount >= 1, "transformResources.instanceCount", r.InstanceCount, "Member must have value greater than or equal to 1")
		v.Length("transformResources.volumeKmsKeyId", r.VolumeKmsKeyId, 0, 2048)
	}
	if dp := req.DataProcessing; dp != nil {
		v.Length("dataProcessing.inputFilter", dp.InputFilter, 0, 63)
		v.Length("dataProcessing.outputFilter", dp.OutputFilter, 0, 63)
		if dp.JoinSource != "" {
			v.Enum("dataProcessing.joinSource", dp.JoinSource, transform.JoinInput, transform.JoinNone)
		}
	}
	checkJobTags(&v, req.Tags)
	return v.Err()
}

func (a *API) createTransformJob(ctx context.Context, req *transform.Spec) (*createTransformJobResponse, error) {
	svc, err := a.transforms()
	if err != nil {
		return nil, err
	}
	if err := validateTransformRequest(req); err != nil {
		return nil, err
	}
	arn, err := svc.CreateTransformJob(ctx, req)
	if err != nil {
		return nil, jobError(err)
	}
	return &createTransformJobResponse{TransformJobArn: arn}, nil
}

type transformJobRef struct {
	TransformJobName string `json:"TransformJobName"`
}

type describeTransformJobResponse struct {
	transform.Spec
	TransformJobArn    string       `json:"TransformJobArn"`
	TransformJobStatus string       `json:"TransformJobStatus"`
	FailureReason      string       `json:"FailureReason,omitempty"`
	CreationTime       awsapi.Time  `json:"CreationTime"`
	TransformStartTime *awsapi.Time `json:"TransformStartTime,omitempty"`
	TransformEndTime   *awsapi.Time `json:"TransformEndTime,omitempty"`
}

func (a *API) describeTransformJob(ctx context.Context, req *transformJobRef) (*describeTransformJobResponse, error) {
	svc, err := a.transforms()
	if err != nil {
		return nil, err
	}
	var v awsapi.Validator
	checkJobName(&v, "transformJobName", req.TransformJobName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	j, err := svc.DescribeTransformJob(ctx, req.TransformJobName)
	if err != nil {
		return nil, jobError(err)
	}
	return &describeTransformJobResponse{
		Spec:               j.Spec,
		TransformJobArn:    j.TransformJobArn,
		TransformJobStatus: j.TransformJobStatus,
		FailureReason:      j.FailureReason,
		CreationTime:       awsapi.NewTime(j.CreationTime),
		TransformStartTime: awsapi.TimePtr(j.TransformStartTime),
		TransformEndTime:   awsapi.TimePtr(j.TransformEndTime),
	}, nil
}

func (a *API) stopTransformJob(ctx context.Context, req *transformJobRef) (*struct{}, error) {
	svc, err := a.transforms()
	if err != nil {
		return nil, err
	}
	var v awsapi.Validator
	checkJobName(&v, "transformJobName", req.TransformJobName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return &struct{}{}, jobError(svc.StopTransformJob(ctx, req.TransformJobName))
}

type transformJobSummary struct {
	TransformJobName   string       `json:"TransformJobName"`
	TransformJobArn    string       `json:"TransformJobArn"`
	CreationTime       awsapi.Time  `json:"CreationTime"`
	TransformEndTime   *awsapi.Time `json:"TransformEndTime,omitempty"`
	LastModifiedTime   *awsapi.Time `json:"LastModifiedTime,omitempty"`
	TransformJobStatus string       `json:"TransformJobStatus"`
	FailureReason      string       `json:"FailureReason,omitempty"`
}

type listTransformJobsResponse struct {
	TransformJobSummaries []transformJobSummary `json:"TransformJobSummaries"`
	NextToken             string                `json:"NextToken,omitempty"`
}

func (a *API) listTransformJobs(ctx context.Context, req *listJobsRequest) (*listTransformJobsResponse, error) {
	if _, err := a.transforms(); err != nil {
		return nil, err
	}
	page, token, err := a.listJobs(ctx, jobs.KindTransform, req)
	if err != nil {
		return nil, err
	}
	out := &listTransformJobsResponse{TransformJobSummaries: []transformJobSummary{}, NextToken: token}
	for _, s := range page {
		out.TransformJobSummaries = append(out.TransformJobSummaries, transformJobSummary{
			TransformJobName: s.Name, TransformJobArn: s.ARN, CreationTime: awsapi.NewTime(s.CreationTime),
			TransformEndTime: awsapi.TimePtr(s.EndTime), LastModifiedTime: awsapi.TimePtr(s.LastModifiedTime),
			TransformJobStatus: s.Status, FailureReason: s.FailureReason,
		})
	}
	return out, nil
}
