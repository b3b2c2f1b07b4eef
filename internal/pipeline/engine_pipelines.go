package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/store"
)

// S3Location names a definition kept in the artifact store (PipelineDefinitionS3Location).
// VersionId is accepted and ignored: the artifact store keeps one version of an object.
type S3Location struct {
	Bucket    string
	ObjectKey string
	VersionID string
}

// NewPipeline is a CreatePipeline request.
type NewPipeline struct {
	Name        string
	DisplayName string
	Description string
	RoleARN     string
	// Definition is the definition JSON; DefinitionS3 names one in the artifact store
	// instead. Exactly one is given.
	Definition   string
	DefinitionS3 *S3Location
	Parallelism  *ParallelismConfiguration
	// ClientToken makes the request idempotent: a retry with the same token returns the
	// pipeline the first request created.
	ClientToken string
	Tags        []store.Tag
}

// PipelineUpdate is an UpdatePipeline request; nil and empty fields are left alone.
type PipelineUpdate struct {
	Name         string
	DisplayName  *string
	Description  *string
	RoleARN      string
	Definition   string
	DefinitionS3 *S3Location
	Parallelism  *ParallelismConfiguration
}

// Pipeline is a stored pipeline, as DescribePipeline reports it.
type Pipeline struct {
	ARN         string
	Name        string
	DisplayName string
	Description string
	RoleARN     string
	Definition  string
	Status      string
	// Parallelism is nil when the pipeline sets none.
	Parallelism *ParallelismConfiguration
	VersionID   int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	LastRunAt   time.Time
	CreatedBy   registry.UserContext
	ModifiedBy  registry.UserContext
}

func pipelineFromRow(p store.Pipeline) Pipeline {
	out := Pipeline{
		ARN: p.ARN, Name: p.Name, DisplayName: p.DisplayName, Description: p.Description, RoleARN: p.RoleARN,
		Definition: p.Definition, Status: p.Status, VersionID: p.VersionID,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, LastRunAt: p.LastRunAt,
	}
	if p.Parallelism > 0 {
		out.Parallelism = &ParallelismConfiguration{MaxParallelExecutionSteps: p.Parallelism}
	}
	json.Unmarshal(p.CreatedBy, &out.CreatedBy)
	json.Unmarshal(p.ModifiedBy, &out.ModifiedBy)
	return out
}

// pipelineARN resolves a pipeline name or ARN to this server's ARN for it.
func (e *Engine) pipelineARN(nameOrARN string) (string, error) {
	if !strings.HasPrefix(nameOrARN, "arn:") {
		return e.PipelineARN(nameOrARN), nil
	}
	_, name, ok := strings.Cut(nameOrARN, ":pipeline/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", errorf(ErrInvalid, "%s is not a pipeline ARN; expected arn:aws:sagemaker:REGION:ACCOUNT:pipeline/NAME.", nameOrARN)
	}
	arn := e.PipelineARN(name)
	if !strings.EqualFold(arn, nameOrARN) {
		return "", errorf(ErrNotFound, "Pipeline %s does not exist in this region and account (this server's ARNs look like %s).", nameOrARN, arn)
	}
	return arn, nil
}

// definitionText returns the definition given inline or loads it from the artifact store, and
// checks it. The text is kept as given: DescribePipeline returns it unchanged.
func (e *Engine) definitionText(ctx context.Context, inline string, loc *S3Location) (string, *Definition, error) {
	switch {
	case inline != "" && loc != nil:
		return "", nil, errorf(ErrInvalid, "Give PipelineDefinition or PipelineDefinitionS3Location, not both.")
	case inline == "" && loc == nil:
		return "", nil, errorf(ErrInvalid, "A pipeline definition is required: give PipelineDefinition (the JSON) or PipelineDefinitionS3Location.")
	case loc != nil:
		if e.cfg.Blob == nil {
			return "", nil, errorf(ErrInvalid, "PipelineDefinitionS3Location needs the artifact store, and this server runs without one; send PipelineDefinition instead.")
		}
		u := blob.URI{Bucket: loc.Bucket, Key: loc.ObjectKey}
		rc, err := e.cfg.Blob.Get(ctx, u)
		if errors.Is(err, blob.ErrNotExist) {
			return "", nil, errorf(ErrInvalid, "PipelineDefinitionS3Location: %s does not exist; upload the definition first (sluice cp FILE %s).", u, u)
		}
		if err != nil {
			return "", nil, fmt.Errorf("pipeline: read definition %s: %w", u, err)
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, maxDefinitionBytes+1))
		if err != nil {
			return "", nil, fmt.Errorf("pipeline: read definition %s: %w", u, err)
		}
		inline = string(b)
	}
	def, err := Parse([]byte(inline))
	if err != nil {
		return "", nil, errorf(ErrInvalid, "Invalid pipeline definition: %v", err)
	}
	return inline, def, nil
}

func actorJSON(a registry.Actor) json.RawMessage {
	b, _ := json.Marshal(a.UserContext())
	return b
}

// CreatePipeline checks the definition and stores the pipeline.
func (e *Engine) CreatePipeline(ctx context.Context, actor registry.Actor, in NewPipeline) (Pipeline, error) {
	if !validName(in.Name, 256) {
		return Pipeline{}, errorf(ErrInvalid, "PipelineName %q must be 1 to 256 letters, digits, '-' or '_'.", in.Name)
	}
	text, _, err := e.definitionText(ctx, in.Definition, in.DefinitionS3)
	if err != nil {
		return Pipeline{}, err
	}
	if in.Parallelism != nil {
		if err := in.Parallelism.Validate(); err != nil {
			return Pipeline{}, errorf(ErrInvalid, "%v", err)
		}
	}
	now := e.now()
	by := actorJSON(actor)
	row := store.Pipeline{
		ARN: e.PipelineARN(in.Name), Name: in.Name, DisplayName: in.DisplayName, Description: in.Description,
		RoleARN: in.RoleARN, Definition: text, Status: PipelineActive, VersionID: 1, ClientToken: in.ClientToken,
		CreatedAt: now, UpdatedAt: now, CreatedBy: by, ModifiedBy: by,
	}
	if row.DisplayName == "" {
		row.DisplayName = in.Name
	}
	if in.Parallelism != nil {
		row.Parallelism = in.Parallelism.MaxParallelExecutionSteps
	}
	err = e.store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertPipeline(ctx, &row); err != nil {
			return err
		}
		return tx.PutTags(ctx, row.ARN, in.Tags)
	})
	if errors.Is(err, store.ErrConflict) {
		prev, gerr := e.store.Pipeline(ctx, row.ARN)
		if gerr == nil && in.ClientToken != "" && prev.ClientToken == in.ClientToken {
			return pipelineFromRow(prev), nil // a retry of the request that created it
		}
		return Pipeline{}, errorf(ErrExists, "Pipeline names must be unique within an AWS account and region. Pipeline with name (%s) already exists.", in.Name)
	}
	if err != nil {
		return Pipeline{}, fmt.Errorf("pipeline: create: %w", err)
	}
	return pipelineFromRow(row), nil
}

// UpdatePipeline changes a pipeline; a new definition makes a new PipelineVersionId. Running
// executions keep the definition they started with.
func (e *Engine) UpdatePipeline(ctx context.Context, actor registry.Actor, in PipelineUpdate) (Pipeline, error) {
	arn, err := e.pipelineARN(in.Name)
	if err != nil {
		return Pipeline{}, err
	}
	var text string
	if in.Definition != "" || in.DefinitionS3 != nil {
		if text, _, err = e.definitionText(ctx, in.Definition, in.DefinitionS3); err != nil {
			return Pipeline{}, err
		}
	}
	if in.Parallelism != nil {
		if err := in.Parallelism.Validate(); err != nil {
			return Pipeline{}, errorf(ErrInvalid, "%v", err)
		}
	}
	var out store.Pipeline
	err = e.store.InTx(ctx, func(tx *store.Tx) error {
		p, err := tx.PipelineForUpdate(ctx, arn)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "Pipeline %s does not exist.", in.Name)
		}
		if err != nil {
			return err
		}
		if text != "" {
			p.Definition = text
		}
		if in.DisplayName != nil {
			p.DisplayName = *in.DisplayName
		}
		if in.Description != nil {
			p.Description = *in.Description
		}
		if in.RoleARN != "" {
			p.RoleARN = in.RoleARN
		}
		if in.Parallelism != nil {
			p.Parallelism = in.Parallelism.MaxParallelExecutionSteps
		}
		p.VersionID++
		p.UpdatedAt, p.ModifiedBy = e.now(), actorJSON(actor)
		out = p
		return tx.UpdatePipeline(ctx, &p)
	})
	if err != nil {
		return Pipeline{}, wrapErr(err, "update")
	}
	return pipelineFromRow(out), nil
}

// DescribePipeline returns a pipeline by name or ARN.
func (e *Engine) DescribePipeline(ctx context.Context, nameOrARN string) (Pipeline, error) {
	arn, err := e.pipelineARN(nameOrARN)
	if err != nil {
		return Pipeline{}, err
	}
	p, err := e.store.Pipeline(ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return Pipeline{}, errorf(ErrNotFound, "Pipeline %s does not exist.", nameOrARN)
	}
	if err != nil {
		return Pipeline{}, fmt.Errorf("pipeline: describe: %w", err)
	}
	return pipelineFromRow(p), nil
}

// DeletePipeline deletes a pipeline with its executions' records. As on SageMaker, a pipeline
// with executions still running is refused: stop them first.
func (e *Engine) DeletePipeline(ctx context.Context, nameOrARN string) (string, error) {
	arn, err := e.pipelineARN(nameOrARN)
	if err != nil {
		return "", err
	}
	err = e.store.InTx(ctx, func(tx *store.Tx) error {
		p, err := tx.PipelineForUpdate(ctx, arn)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "Pipeline %s does not exist.", nameOrARN)
		}
		if err != nil {
			return err
		}
		n, err := tx.CountPipelineExecutions(ctx, p.ID, ExecutionExecuting, ExecutionStopping)
		if err != nil {
			return err
		}
		if n > 0 {
			return errorf(ErrConflict, "Pipeline %s has %d running execution(s); stop them with StopPipelineExecution before deleting the pipeline.", p.Name, n)
		}
		if err := tx.DeleteAllTags(ctx, p.ARN); err != nil {
			return err
		}
		return tx.DeletePipeline(ctx, p.ID)
	})
	if err != nil {
		return "", wrapErr(err, "delete")
	}
	return arn, nil
}

// Sort keys of ListPipelines.
const (
	SortByName         = "Name"
	SortByCreationTime = "CreationTime"
)

// PipelineQuery selects pipelines for ListPipelines.
type PipelineQuery struct {
	NamePrefix                  string
	CreatedAfter, CreatedBefore time.Time
	// SortBy is SortByName or SortByCreationTime (the default).
	SortBy     string
	Descending bool
	After      *store.Cursor
	Limit      int
}

// PipelinePage is one page of pipelines; Next is nil on the last page.
type PipelinePage struct {
	Pipelines []Pipeline
	Next      *store.Cursor
}

// ListPipelines lists pipelines, one page at a time.
func (e *Engine) ListPipelines(ctx context.Context, q PipelineQuery) (PipelinePage, error) {
	byName := q.SortBy == SortByName
	rows, err := e.store.ListPipelines(ctx, store.PipelineQuery{
		NamePrefix: q.NamePrefix, CreatedAfter: q.CreatedAfter, CreatedBefore: q.CreatedBefore,
		SortByName: byName, Descending: q.Descending, After: q.After, Limit: pageLimit(q.Limit),
	})
	if err != nil {
		return PipelinePage{}, fmt.Errorf("pipeline: list: %w", err)
	}
	var page PipelinePage
	for i, r := range rows {
		if q.Limit > 0 && i == q.Limit {
			c := rows[i-1].SortKey(byName)
			page.Next = &c
			break
		}
		page.Pipelines = append(page.Pipelines, pipelineFromRow(r))
	}
	return page, nil
}

// pageLimit asks the store for one row more than a page holds, to know whether another
// page follows; 0 means no limit.
func pageLimit(n int) int {
	if n <= 0 {
		return 0
	}
	return n + 1
}

// wrapErr keeps an engine *Error as it is and gives anything else a prefix.
func wrapErr(err error, op string) error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return fmt.Errorf("pipeline: %s: %w", op, err)
}
