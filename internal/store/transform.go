package store

import (
	"context"
	"fmt"
	"time"
)

// Transform file statuses.
const (
	TransformFilePending = "pending"
	TransformFileRunning = "running"
	TransformFileDone    = "done"
	TransformFileFailed  = "failed"
)

// TransformFile is one input file of a transform job and how far it has got.
type TransformFile struct {
	ID     int64
	JobARN string
	// Seq is the file's position in the job's input listing.
	Seq       int
	InputURI  string
	OutputURI string
	// Size is the object's size as stored; BytesRead counts what has been read of it.
	Size      int64
	Status    string
	Records   int64
	BytesRead int64
	Error     string
	StartedAt time.Time
	UpdatedAt time.Time
}

const transformFileColumns = `id, job_arn, seq, input_uri, output_uri, size, status, records, bytes_read, error, started_at, updated_at`

// InsertTransformFiles records a job's input files; it sets each ID. A job that already has a
// file with the same Seq is ErrConflict.
func (tx *Tx) InsertTransformFiles(ctx context.Context, files []TransformFile) error {
	for i := range files {
		f := &files[i]
		err := tx.QueryRowContext(ctx, `INSERT INTO transform_files (job_arn, seq, input_uri, output_uri, size, status, records, bytes_read, error, started_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			f.JobARN, f.Seq, f.InputURI, f.OutputURI, f.Size, f.Status, f.Records, f.BytesRead, f.Error, Nanos(f.StartedAt), Nanos(f.UpdatedAt)).Scan(&f.ID)
		if IsUniqueViolation(err) {
			return fmt.Errorf("store: transform file %s #%d: %w", f.JobARN, f.Seq, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("store: insert transform file: %w", err)
		}
	}
	return nil
}

// TransformFiles returns a job's input files in listing order.
func (s *Store) TransformFiles(ctx context.Context, jobARN string) ([]TransformFile, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+transformFileColumns+` FROM transform_files WHERE job_arn = $1 ORDER BY seq`, jobARN)
	if err != nil {
		return nil, fmt.Errorf("store: list transform files: %w", err)
	}
	defer rows.Close()
	var out []TransformFile
	for rows.Next() {
		var f TransformFile
		var started, updated int64
		if err := rows.Scan(&f.ID, &f.JobARN, &f.Seq, &f.InputURI, &f.OutputURI, &f.Size, &f.Status, &f.Records, &f.BytesRead, &f.Error, &started, &updated); err != nil {
			return nil, fmt.Errorf("store: list transform files: %w", err)
		}
		f.StartedAt, f.UpdatedAt = FromNanos(started), FromNanos(updated)
		out = append(out, f)
	}
	return out, rows.Err()
}

// UpdateTransformFile writes the progress columns of f (found by ID): status, records,
// bytes read, error and times.
func (s *Store) UpdateTransformFile(ctx context.Context, f *TransformFile) error {
	return s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE transform_files SET status = $1, records = $2, bytes_read = $3, error = $4, started_at = $5, updated_at = $6 WHERE id = $7`,
			f.Status, f.Records, f.BytesRead, f.Error, Nanos(f.StartedAt), Nanos(f.UpdatedAt), f.ID)
		if err != nil {
			return fmt.Errorf("store: update transform file: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: update transform file %d: %w", f.ID, ErrNotFound)
		}
		return nil
	})
}
