package transform

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/serving"
)

// plan is a job's settings, resolved: the request's, then the model's execution parameters,
// then SageMaker's defaults.
type plan struct {
	contentType  string
	accept       string
	inFmt        format
	acceptFmt    format
	split        string // SplitLine or SplitNone
	gzip         bool
	strategy     string
	maxPayload   int // bytes
	concurrency  int // mini-batches in flight per worker
	assembleLine bool
	join         bool
	inFilter     *Path
	outFilter    *Path
	timeout      time.Duration
	retries      int
	instances    int
}

// newPlan reads the request; resolve completes it with the model's execution parameters.
func newPlan(spec *Spec) (*plan, error) {
	var p problems
	checkSpec(&p, spec)
	if err := p.err(); err != nil {
		return nil, err
	}
	in, out := spec.TransformInput, spec.TransformOutput
	pl := &plan{
		contentType: in.ContentType, accept: out.Accept,
		inFmt: formatOf(in.ContentType), acceptFmt: formatOf(out.Accept),
		split: SplitNone, gzip: in.CompressionType == CompressionGzip,
		strategy: spec.BatchStrategy, assembleLine: out.AssembleWith == AssembleLine,
		timeout: DefaultInvocationsTimeout, retries: DefaultInvocationsMaxRetries,
		instances: int(spec.TransformResources.InstanceCount),
	}
	if in.SplitType == SplitLine {
		pl.split = SplitLine
	}
	if spec.MaxPayloadInMB != nil {
		pl.maxPayload = int(*spec.MaxPayloadInMB) << 20
	}
	if spec.MaxConcurrentTransforms != nil {
		pl.concurrency = int(*spec.MaxConcurrentTransforms)
	}
	if mc := spec.ModelClientConfig; mc != nil {
		if mc.InvocationsTimeoutInSeconds != nil {
			pl.timeout = time.Duration(*mc.InvocationsTimeoutInSeconds) * time.Second
		}
		if mc.InvocationsMaxRetries != nil {
			pl.retries = int(*mc.InvocationsMaxRetries)
		}
	}
	pl.inFilter, pl.outFilter = &Path{}, &Path{}
	if dp := spec.DataProcessing; dp != nil {
		pl.join = dp.JoinSource == JoinInput
		pl.inFilter, _ = ParsePath(dp.InputFilter)
		pl.outFilter, _ = ParsePath(dp.OutputFilter)
	}
	return pl, nil
}

// perRecord reports whether mini-batches are built record by record: filters, a join, or one
// record per request. Otherwise whole runs of lines go to the model as they were read.
func (pl *plan) perRecord() bool {
	return pl.join || !pl.inFilter.Whole() || !pl.outFilter.Whole() || pl.strategy == StrategySingleRecord
}

// resolve fills what the request left open from the model's GET /execution-parameters, then
// from SageMaker's defaults (MultiRecord, 6 MB, one mini-batch at a time).
func (pl *plan) resolve(ctx context.Context, server serving.ModelServer) (serving.ExecutionParameters, bool, error) {
	var ep serving.ExecutionParameters
	var ok bool
	var err error
	if bp, is := server.(serving.BatchParameters); is {
		ep, ok, err = bp.ExecutionParameters(ctx)
	}
	if ok {
		if pl.concurrency <= 0 && ep.MaxConcurrentTransforms > 0 {
			pl.concurrency = ep.MaxConcurrentTransforms
		}
		if pl.maxPayload <= 0 && ep.MaxPayloadInMB > 0 {
			pl.maxPayload = min(ep.MaxPayloadInMB, MaxPayloadLimitInMB) << 20
		}
		if pl.strategy == "" && ep.BatchStrategy == "SINGLE_RECORD" && pl.split != SplitNone {
			pl.strategy = StrategySingleRecord
		}
	}
	if pl.concurrency <= 0 {
		pl.concurrency = 1
	}
	if pl.maxPayload <= 0 {
		pl.maxPayload = DefaultMaxPayloadInMB << 20
	}
	if pl.strategy == "" {
		pl.strategy = StrategyMultiRecord
	}
	return ep, ok, err
}

// modelSpec is how the job's model is started: one replica per instance, the batch
// variables of the container contract, and the job's Environment.
func modelSpec(m hosting.Model, pl *plan, spec *Spec) serving.ModelSpec {
	ms := serving.ModelSpec{Name: m.ModelName, Replicas: pl.instances, InvocationTimeout: pl.timeout, NetworkIsolation: m.EnableNetworkIsolation}
	if spec.MaxConcurrentTransforms != nil && *spec.MaxConcurrentTransforms > 64 {
		ms.Concurrency = int(*spec.MaxConcurrentTransforms)
	}
	for _, c := range m.Resolved {
		ms.Containers = append(ms.Containers, serving.ContainerSpec{Hostname: c.Hostname, Image: c.Image,
			ModelDataURL: c.ModelDataURL, ModelDataUncompressed: c.Uncompressed, Environment: c.Environment})
	}
	ms.Env = append(ms.Env, "SAGEMAKER_BATCH=true")
	// The contract sets these only when the job does.
	if spec.MaxPayloadInMB != nil {
		ms.Env = append(ms.Env, "SAGEMAKER_MAX_PAYLOAD_IN_MB="+strconv.Itoa(int(*spec.MaxPayloadInMB)))
	}
	switch spec.BatchStrategy {
	case StrategyMultiRecord:
		ms.Env = append(ms.Env, "SAGEMAKER_BATCH_STRATEGY=MULTI_RECORD")
	case StrategySingleRecord:
		ms.Env = append(ms.Env, "SAGEMAKER_BATCH_STRATEGY=SINGLE_RECORD")
	}
	if spec.MaxConcurrentTransforms != nil && *spec.MaxConcurrentTransforms > 0 {
		ms.Env = append(ms.Env, "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS="+strconv.Itoa(int(*spec.MaxConcurrentTransforms)))
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Environment)) {
		ms.Env = append(ms.Env, k+"="+spec.Environment[k])
	}
	return ms
}

// describe summarises the plan for the job's log.
func (pl *plan) describe() string {
	join := ""
	if pl.join {
		join = ", joined with the input"
	}
	filters := ""
	if !pl.inFilter.Whole() {
		filters += ", input filter " + pl.inFilter.String()
	}
	if !pl.outFilter.Whole() {
		filters += ", output filter " + pl.outFilter.String()
	}
	return fmt.Sprintf("split %s, %s up to %d MB, %d in flight per instance, %d instance(s), timeout %s, %d retries%s%s",
		pl.split, pl.strategy, pl.maxPayload>>20, pl.concurrency, pl.instances, pl.timeout, pl.retries, join, filters)
}
