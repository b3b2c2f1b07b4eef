package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Deployment is a row of deployments: one endpoint update and its evidence.
type Deployment struct {
	ID int64
	// EndpointID and Generation identify the update: the endpoint row and the generation the
	// UpdateEndpoint request gave it.
	EndpointID   int64
	EndpointARN  string
	EndpointName string
	Generation   int64
	// Status is the hosting package's deployment status (InProgress until it ends).
	Status    string
	StartedAt time.Time
	// EndedAt is zero while the deployment runs.
	EndedAt time.Time
	// Record is JSON owned by the hosting package.
	Record json.RawMessage
}

const deploymentColumns = `id, endpoint_id, endpoint_arn, endpoint_name, generation, status, started_at, ended_at, record`

func scanDeployment(sc scanner) (Deployment, error) {
	var d Deployment
	var started, ended int64
	var record string
	if err := sc.Scan(&d.ID, &d.EndpointID, &d.EndpointARN, &d.EndpointName, &d.Generation, &d.Status, &started, &ended, &record); err != nil {
		return d, err
	}
	d.StartedAt, d.EndedAt, d.Record = FromNanos(started), FromNanos(ended), json.RawMessage(record)
	return d, nil
}

// InsertDeployment stores a new deployment and sets its ID; a second deployment for the same
// endpoint generation is ErrConflict.
func (tx *Tx) InsertDeployment(ctx context.Context, d *Deployment) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO deployments (endpoint_id, endpoint_arn, endpoint_name, generation, status, started_at, ended_at, record)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		d.EndpointID, d.EndpointARN, d.EndpointName, d.Generation, d.Status, Nanos(d.StartedAt), Nanos(d.EndedAt), jsonText(d.Record)).Scan(&d.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: deployment of %s generation %d: %w", d.EndpointARN, d.Generation, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert deployment: %w", err)
	}
	return nil
}

// UpdateDeployment writes a deployment's status, end time and record (found by ID).
func (tx *Tx) UpdateDeployment(ctx context.Context, d Deployment) error {
	res, err := tx.ExecContext(ctx, `UPDATE deployments SET status = $2, ended_at = $3, record = $4 WHERE id = $1`,
		d.ID, d.Status, Nanos(d.EndedAt), jsonText(d.Record))
	if err != nil {
		return fmt.Errorf("store: update deployment: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: deployment %d: %w", d.ID, ErrNotFound)
	}
	return nil
}

// DeploymentOf returns the deployment of an endpoint generation.
func (s *Store) DeploymentOf(ctx context.Context, endpointID, generation int64) (Deployment, error) {
	d, err := scanDeployment(s.reads().QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE endpoint_id = $1 AND generation = $2`,
		endpointID, generation))
	return d, notFound(err, "deployment")
}

// Deployment returns a deployment by ID.
func (s *Store) Deployment(ctx context.Context, id int64) (Deployment, error) {
	d, err := scanDeployment(s.reads().QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE id = $1`, id))
	return d, notFound(err, "deployment")
}

// Deployments returns up to limit deployments of the endpoint ARN, newest first, before the
// deployment ID before (0: from the newest). They outlive the endpoint, so a deleted endpoint's
// history, and that of an earlier endpoint of the same name, stay readable.
func (s *Store) Deployments(ctx context.Context, endpointARN string, before int64, limit int) ([]Deployment, error) {
	q := `SELECT ` + deploymentColumns + ` FROM deployments WHERE endpoint_arn = $1`
	args := []any{endpointARN}
	if before > 0 {
		q += ` AND id < $2`
		args = append(args, before)
	}
	q += ` ORDER BY id DESC`
	if limit > 0 {
		args = append(args, limit)
		q += fmt.Sprintf(` LIMIT $%d`, len(args))
	}
	rows, err := s.reads().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list deployments: %w", err)
	}
	return collect(rows, scanDeployment)
}
