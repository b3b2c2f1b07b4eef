package jobs

import (
	"context"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// List sort keys, as SageMaker's SortBy names them.
const (
	SortByCreationTime = "CreationTime"
	SortByName         = "Name"
	SortByStatus       = "Status"
)

// ListQuery selects one page of jobs. Zero fields do not filter.
type ListQuery struct {
	// Kind limits the list to one kind; empty lists every kind.
	Kind           Kind
	NameContains   string
	Status         string
	CreatedAfter   time.Time
	CreatedBefore  time.Time
	ModifiedAfter  time.Time
	ModifiedBefore time.Time
	// SortBy is SortByCreationTime (the default), SortByName or SortByStatus.
	SortBy     string
	Descending bool
	// After continues from the previous page's Next.
	After *Cursor
	// Limit is the page size; default 10.
	Limit int
}

// Cursor is where a list page ends: the last row's sort value and its ID.
type Cursor struct {
	Sort string
	ID   int64
}

// List returns one page of jobs and, when more follow, the cursor of the next page.
func (r *Runner) List(ctx context.Context, q ListQuery) ([]Summary, *Cursor, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 10
	}
	sq := store.JobQuery{
		Kind: string(q.Kind), NameContains: q.NameContains, Status: q.Status,
		CreatedAfter: q.CreatedAfter, CreatedBefore: q.CreatedBefore,
		ModifiedAfter: q.ModifiedAfter, ModifiedBefore: q.ModifiedBefore,
		SortBy: sortKey(q.SortBy), Descending: q.Descending, Limit: limit + 1,
	}
	if q.After != nil {
		sq.After = &store.JobCursor{Sort: q.After.Sort, ID: q.After.ID}
	}
	rows, err := r.store.ListJobs(ctx, sq)
	if err != nil {
		return nil, nil, err
	}
	var next *Cursor
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		next = &Cursor{Sort: store.JobSortValue(last, sq.SortBy), ID: last.ID}
	}
	out := make([]Summary, len(rows))
	for i, j := range rows {
		out[i] = summary(j)
	}
	return out, next, nil
}

func sortKey(s string) string {
	switch s {
	case SortByName:
		return store.JobSortName
	case SortByStatus:
		return store.JobSortStatus
	}
	return store.JobSortCreated
}

func summary(j store.Job) Summary {
	return Summary{
		Kind: Kind(j.Kind), Name: j.Name, ARN: j.ARN, Status: j.Status, SecondaryStatus: j.SecondaryStatus,
		FailureReason: j.FailureReason, ExitMessage: j.ExitMessage,
		CreationTime: j.CreatedAt, LastModifiedTime: j.UpdatedAt, EndTime: j.EndedAt,
	}
}

// Lookup finds the jobs of any kind with this name (a processing and a training job may share
// one).
func (r *Runner) Lookup(ctx context.Context, name string) ([]Summary, error) {
	rows, err := r.store.JobsNamed(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]Summary, len(rows))
	for i, j := range rows {
		out[i] = summary(j)
	}
	return out, nil
}
