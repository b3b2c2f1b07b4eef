package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

func init() {
	registerResourceKind("model", "models", "arn")
	registerResourceKind("endpoint-config", "endpoint_configs", "arn")
	registerResourceKind("endpoint", "endpoints", "arn")
}

// HostingDoc is a row of models or endpoint_configs: an immutable named document.
type HostingDoc struct {
	ID        int64
	ARN       string
	Name      string
	CreatedAt time.Time
	// Spec is the document, owned by the hosting package.
	Spec json.RawMessage
}

// SortKey returns the cursor of d in a list sorted by name or by creation time.
func (d HostingDoc) SortKey(byName bool) Cursor {
	if byName {
		return Cursor{Sort: d.Name, ID: d.ID}
	}
	return Cursor{Sort: strconv.FormatInt(Nanos(d.CreatedAt), 10), ID: d.ID}
}

// Endpoint is a row of endpoints.
type Endpoint struct {
	ID                int64
	ARN               string
	Name              string
	ConfigName        string
	DesiredConfigName string
	Status            string
	FailureReason     string
	Generation        int64
	CreatedAt         time.Time
	ModifiedAt        time.Time
	// State is JSON owned by the hosting package.
	State json.RawMessage
}

// Endpoint sort orders.
const (
	EndpointsByCreationTime = "CreationTime"
	EndpointsByName         = "Name"
	EndpointsByStatus       = "Status"
)

// SortKey returns the cursor of e in a list sorted by sortBy (one of the Endpoints… orders).
func (e Endpoint) SortKey(sortBy string) Cursor {
	switch sortBy {
	case EndpointsByName:
		return Cursor{Sort: e.Name, ID: e.ID}
	case EndpointsByStatus:
		return Cursor{Sort: e.Status, ID: e.ID}
	}
	return Cursor{Sort: strconv.FormatInt(Nanos(e.CreatedAt), 10), ID: e.ID}
}

// HostingQuery selects and orders a list of models, endpoint configs or endpoints.
type HostingQuery struct {
	// NameContains matches names case-insensitively.
	NameContains                string
	CreatedAfter, CreatedBefore time.Time
	// ModifiedAfter, ModifiedBefore and Status apply to endpoints only.
	ModifiedAfter, ModifiedBefore time.Time
	Status                        string
	// SortBy is one of the Endpoints… orders; models and configs sort by name or creation time.
	SortBy     string
	Descending bool
	After      *Cursor
	Limit      int
}

// hostingTable names the two document tables, so their queries are written once.
type hostingTable struct{ table, what string }

var (
	modelsTable  = hostingTable{"models", "model"}
	configsTable = hostingTable{"endpoint_configs", "endpoint config"}
)

const docColumns = `id, arn, name, created_at, spec`

func scanDoc(sc scanner) (HostingDoc, error) {
	var d HostingDoc
	var created int64
	var spec string
	if err := sc.Scan(&d.ID, &d.ARN, &d.Name, &created, &spec); err != nil {
		return d, err
	}
	d.CreatedAt, d.Spec = FromNanos(created), json.RawMessage(spec)
	return d, nil
}

func (t hostingTable) insert(ctx context.Context, tx *Tx, d *HostingDoc) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO `+t.table+` (arn, name, created_at, spec) VALUES ($1, $2, $3, $4) RETURNING id`,
		d.ARN, d.Name, Nanos(d.CreatedAt), jsonText(d.Spec)).Scan(&d.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: %s %s: %w", t.what, d.ARN, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert %s: %w", t.what, err)
	}
	return nil
}

func (t hostingTable) get(ctx context.Context, q Querier, arn string) (HostingDoc, error) {
	d, err := scanDoc(q.QueryRowContext(ctx, `SELECT `+docColumns+` FROM `+t.table+` WHERE arn = $1`, arn))
	return d, notFound(err, t.what)
}

func (t hostingTable) delete(ctx context.Context, tx *Tx, arn string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM `+t.table+` WHERE arn = $1`, arn)
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", t.what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: %s %s: %w", t.what, arn, ErrNotFound)
	}
	return nil
}

func (t hostingTable) list(ctx context.Context, s *Store, q HostingQuery) ([]HostingDoc, error) {
	var b queryBuilder
	if q.NameContains != "" {
		b.where(`LOWER(name) LIKE ` + b.arg(likeContains(q.NameContains)) + ` ESCAPE '\'`)
	}
	b.timeWindow(q.CreatedAfter, q.CreatedBefore)
	byName := q.SortBy == EndpointsByName
	sortCol := "created_at"
	if byName {
		sortCol = "name"
	}
	if err := b.keyset(sortCol, byName, q.Descending, q.After); err != nil {
		return nil, err
	}
	rows, err := s.reads().QueryContext(ctx, `SELECT `+docColumns+` FROM `+t.table+b.sql(sortCol, q.Descending, q.Limit), b.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list %ss: %w", t.what, err)
	}
	return collect(rows, scanDoc)
}

// InsertModel stores a new model and sets its ID; an existing ARN is ErrConflict.
func (tx *Tx) InsertModel(ctx context.Context, d *HostingDoc) error {
	return modelsTable.insert(ctx, tx, d)
}

// Model reads a model by ARN.
func (s *Store) Model(ctx context.Context, arn string) (HostingDoc, error) {
	return modelsTable.get(ctx, s.reads(), arn)
}

// Model reads a model by ARN inside the transaction.
func (tx *Tx) Model(ctx context.Context, arn string) (HostingDoc, error) {
	return modelsTable.get(ctx, tx, arn)
}

// DeleteModel removes a model; ErrNotFound if there was none.
func (tx *Tx) DeleteModel(ctx context.Context, arn string) error {
	return modelsTable.delete(ctx, tx, arn)
}

// ListModels returns up to q.Limit models in q's order (by name or creation time).
func (s *Store) ListModels(ctx context.Context, q HostingQuery) ([]HostingDoc, error) {
	return modelsTable.list(ctx, s, q)
}

// InsertEndpointConfig stores a new endpoint config and sets its ID; an existing ARN is
// ErrConflict.
func (tx *Tx) InsertEndpointConfig(ctx context.Context, d *HostingDoc) error {
	return configsTable.insert(ctx, tx, d)
}

// EndpointConfig reads an endpoint config by ARN.
func (s *Store) EndpointConfig(ctx context.Context, arn string) (HostingDoc, error) {
	return configsTable.get(ctx, s.reads(), arn)
}

// EndpointConfig reads an endpoint config by ARN inside the transaction.
func (tx *Tx) EndpointConfig(ctx context.Context, arn string) (HostingDoc, error) {
	return configsTable.get(ctx, tx, arn)
}

// DeleteEndpointConfig removes an endpoint config; ErrNotFound if there was none.
func (tx *Tx) DeleteEndpointConfig(ctx context.Context, arn string) error {
	return configsTable.delete(ctx, tx, arn)
}

// ListEndpointConfigs returns up to q.Limit endpoint configs in q's order.
func (s *Store) ListEndpointConfigs(ctx context.Context, q HostingQuery) ([]HostingDoc, error) {
	return configsTable.list(ctx, s, q)
}

// EndpointUsingConfig returns the name of an endpoint that serves, or is moving to, the config
// named configName, or "" when none does.
func (tx *Tx) EndpointUsingConfig(ctx context.Context, configName string) (string, error) {
	var name string
	err := tx.QueryRowContext(ctx, `SELECT name FROM endpoints WHERE config_name = $1 OR desired_config_name = $1 ORDER BY id LIMIT 1`, configName).Scan(&name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("store: find endpoints using a config: %w", err)
	}
	return name, nil
}

const endpointColumns = `id, arn, name, config_name, desired_config_name, status, failure_reason, generation, created_at, modified_at, state`

func scanEndpoint(sc scanner) (Endpoint, error) {
	var e Endpoint
	var created, modified int64
	var state string
	err := sc.Scan(&e.ID, &e.ARN, &e.Name, &e.ConfigName, &e.DesiredConfigName, &e.Status, &e.FailureReason, &e.Generation, &created, &modified, &state)
	if err != nil {
		return e, err
	}
	e.CreatedAt, e.ModifiedAt, e.State = FromNanos(created), FromNanos(modified), json.RawMessage(state)
	return e, nil
}

// InsertEndpoint stores a new endpoint and sets its ID; an existing ARN is ErrConflict.
func (tx *Tx) InsertEndpoint(ctx context.Context, e *Endpoint) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO endpoints (arn, name, config_name, desired_config_name, status, failure_reason, generation, created_at, modified_at, state)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		e.ARN, e.Name, e.ConfigName, e.DesiredConfigName, e.Status, e.FailureReason, e.Generation, Nanos(e.CreatedAt), Nanos(e.ModifiedAt), jsonText(e.State)).Scan(&e.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: endpoint %s: %w", e.ARN, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert endpoint: %w", err)
	}
	return nil
}

// Endpoint reads an endpoint by ARN.
func (s *Store) Endpoint(ctx context.Context, arn string) (Endpoint, error) {
	e, err := scanEndpoint(s.reads().QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE arn = $1`, arn))
	return e, notFound(err, "endpoint")
}

// LockEndpoint reads an endpoint by ARN and holds it against concurrent changes until the
// transaction ends.
func (tx *Tx) LockEndpoint(ctx context.Context, arn string) (Endpoint, error) {
	e, err := scanEndpoint(tx.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE arn = $1`+tx.forUpdate(), arn))
	return e, notFound(err, "endpoint")
}

// UpdateEndpoint writes every mutable column of e (found by ID).
func (tx *Tx) UpdateEndpoint(ctx context.Context, e Endpoint) error {
	res, err := tx.ExecContext(ctx, `UPDATE endpoints SET config_name = $2, desired_config_name = $3, status = $4, failure_reason = $5,
		generation = $6, modified_at = $7, state = $8 WHERE id = $1`,
		e.ID, e.ConfigName, e.DesiredConfigName, e.Status, e.FailureReason, e.Generation, Nanos(e.ModifiedAt), jsonText(e.State))
	if err != nil {
		return fmt.Errorf("store: update endpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: endpoint %s: %w", e.ARN, ErrNotFound)
	}
	return nil
}

// DeleteEndpoint removes an endpoint row.
func (tx *Tx) DeleteEndpoint(ctx context.Context, id int64) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM endpoints WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete endpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: endpoint %d: %w", id, ErrNotFound)
	}
	return nil
}

// ListEndpoints returns up to q.Limit endpoints in q's order.
func (s *Store) ListEndpoints(ctx context.Context, q HostingQuery) ([]Endpoint, error) {
	var b queryBuilder
	if q.NameContains != "" {
		b.where(`LOWER(name) LIKE ` + b.arg(likeContains(q.NameContains)) + ` ESCAPE '\'`)
	}
	b.timeWindow(q.CreatedAfter, q.CreatedBefore)
	if !q.ModifiedAfter.IsZero() {
		b.where(`modified_at > ` + b.arg(Nanos(q.ModifiedAfter)))
	}
	if !q.ModifiedBefore.IsZero() {
		b.where(`modified_at < ` + b.arg(Nanos(q.ModifiedBefore)))
	}
	if q.Status != "" {
		b.where(`status = ` + b.arg(q.Status))
	}
	sortCol, text := "created_at", false
	switch q.SortBy {
	case EndpointsByName:
		sortCol, text = "name", true
	case EndpointsByStatus:
		sortCol, text = "status", true
	}
	if err := b.keyset(sortCol, text, q.Descending, q.After); err != nil {
		return nil, err
	}
	rows, err := s.reads().QueryContext(ctx, `SELECT `+endpointColumns+` FROM endpoints`+b.sql(sortCol, q.Descending, q.Limit), b.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list endpoints: %w", err)
	}
	return collect(rows, scanEndpoint)
}

// AllEndpoints returns every endpoint, for the controller's reconcile pass.
func (s *Store) AllEndpoints(ctx context.Context) ([]Endpoint, error) {
	return s.ListEndpoints(ctx, HostingQuery{})
}
