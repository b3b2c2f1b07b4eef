package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

func init() {
	registerResourceKind("model-package-group", "model_package_groups", "arn")
	registerResourceKind("model-package", "model_packages", "arn")
}

// ModelPackageGroup is a row of model_package_groups.
type ModelPackageGroup struct {
	ID          int64
	ARN         string
	Name        string
	Description string
	Status      string
	CreatedAt   time.Time
	// CreatedBy is a JSON document (SageMaker's UserContext).
	CreatedBy     json.RawMessage
	LatestVersion int64
}

// ModelPackage is a row of model_packages: a version of a group, or an unversioned package.
type ModelPackage struct {
	ID int64
	// GroupID is zero for an unversioned package.
	GroupID             int64
	ARN                 string
	Name                string
	GroupName           string
	Version             int64
	Description         string
	ApprovalStatus      string
	ApprovalDescription string
	Status              string
	CreatedAt           time.Time
	CreatedBy           json.RawMessage
	ModifiedAt          time.Time
	ModifiedBy          json.RawMessage
	CustomerMetadata    map[string]string
	// Spec is the JSON document of the fields kept as given.
	Spec json.RawMessage
	// ClientToken is the idempotency token of the create request, if any.
	ClientToken string
}

// Cursor is a keyset position in a sorted list: the sort value of the last row returned and its
// id, which breaks ties.
type Cursor struct {
	Sort string
	ID   int64
}

// Package kinds for ModelPackageQuery.Type, as SageMaker names them.
const (
	PackagesVersioned   = "Versioned"
	PackagesUnversioned = "Unversioned"
	PackagesBoth        = "Both"
)

// ModelPackageGroupQuery selects and orders model package groups.
type ModelPackageGroupQuery struct {
	// NameContains matches names case-insensitively.
	NameContains string
	// CreatedAfter and CreatedBefore bound the creation time, exclusive; zero means unbounded.
	CreatedAfter, CreatedBefore time.Time
	// SortByName orders by name instead of creation time; ties break on id.
	SortByName bool
	Descending bool
	// After resumes after a row of a previous page.
	After *Cursor
	Limit int
}

// ModelPackageQuery selects and orders model packages.
type ModelPackageQuery struct {
	// GroupARN restricts the list to that group's versions.
	GroupARN string
	// Type is PackagesVersioned, PackagesUnversioned or PackagesBoth.
	Type           string
	ApprovalStatus string
	NameContains   string
	// CreatedAfter and CreatedBefore bound the creation time, exclusive; zero means unbounded.
	CreatedAfter, CreatedBefore time.Time
	SortByName                  bool
	Descending                  bool
	After                       *Cursor
	Limit                       int
}

// SortKey returns the cursor of g in a list sorted by name or by creation time.
func (g ModelPackageGroup) SortKey(byName bool) Cursor {
	if byName {
		return Cursor{Sort: g.Name, ID: g.ID}
	}
	return Cursor{Sort: strconv.FormatInt(Nanos(g.CreatedAt), 10), ID: g.ID}
}

// SortKey returns the cursor of p in a list sorted by name or by creation time.
func (p ModelPackage) SortKey(byName bool) Cursor {
	if byName {
		return Cursor{Sort: p.Name, ID: p.ID}
	}
	return Cursor{Sort: strconv.FormatInt(Nanos(p.CreatedAt), 10), ID: p.ID}
}

// forUpdate is the row-lock suffix of a SELECT inside a transaction. SQLite needs none: a write
// transaction there holds the single writer lock from BEGIN IMMEDIATE on.
func (tx *Tx) forUpdate() string {
	if tx.s.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

const groupColumns = `id, arn, name, description, status, created_at, created_by, latest_version`

func scanGroup(sc scanner) (ModelPackageGroup, error) {
	var g ModelPackageGroup
	var created int64
	var by string
	err := sc.Scan(&g.ID, &g.ARN, &g.Name, &g.Description, &g.Status, &created, &by, &g.LatestVersion)
	if err != nil {
		return g, err
	}
	g.CreatedAt = FromNanos(created)
	g.CreatedBy = json.RawMessage(by)
	return g, nil
}

// InsertModelPackageGroup stores a new group and sets its ID. A group with the same ARN is
// ErrConflict.
func (tx *Tx) InsertModelPackageGroup(ctx context.Context, g *ModelPackageGroup) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO model_package_groups (arn, name, description, status, created_at, created_by, latest_version, last_created_at)
		VALUES ($1, $2, $3, $4, $5, $6, 0, 0) RETURNING id`,
		g.ARN, g.Name, g.Description, g.Status, Nanos(g.CreatedAt), jsonText(g.CreatedBy)).Scan(&g.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: model package group %s: %w", g.ARN, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert model package group: %w", err)
	}
	return nil
}

// ModelPackageGroup reads a group by ARN.
func (s *Store) ModelPackageGroup(ctx context.Context, arn string) (ModelPackageGroup, error) {
	g, err := scanGroup(s.reads().QueryRowContext(ctx, `SELECT `+groupColumns+` FROM model_package_groups WHERE arn = $1`, arn))
	return g, notFound(err, "model package group")
}

// LockModelPackageGroup reads a group by ARN and holds it against concurrent changes until the
// transaction ends.
func (tx *Tx) LockModelPackageGroup(ctx context.Context, arn string) (ModelPackageGroup, error) {
	g, err := scanGroup(tx.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM model_package_groups WHERE arn = $1`+tx.forUpdate(), arn))
	return g, notFound(err, "model package group")
}

// DeleteModelPackageGroup removes a group row. The caller checks that it holds no versions; the
// foreign key refuses the delete otherwise.
func (tx *Tx) DeleteModelPackageGroup(ctx context.Context, id int64) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM model_package_groups WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete model package group: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: model package group %d: %w", id, ErrNotFound)
	}
	return nil
}

// CountModelPackages returns how many versions a group holds.
func (tx *Tx) CountModelPackages(ctx context.Context, groupID int64) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM model_packages WHERE group_id = $1`, groupID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count model packages: %w", err)
	}
	return n, nil
}

// NextVersion issues the next version number of the group with this ARN and the creation time
// of that version: now, or one millisecond (the precision of SageMaker's timestamps) after the
// group's previous version if the clock has not moved past it. The group row stays locked until
// the transaction ends, which serialises concurrent creates in one group.
func (tx *Tx) NextVersion(ctx context.Context, groupARN string, now time.Time) (g ModelPackageGroup, version int64, created time.Time, err error) {
	return tx.ReserveVersions(ctx, groupARN, 1, now)
}

// ReserveVersions issues n consecutive version numbers of the group at once, for bulk imports:
// first … first+n-1, created one millisecond apart from firstCreated on (see NextVersion).
func (tx *Tx) ReserveVersions(ctx context.Context, groupARN string, n int, now time.Time) (g ModelPackageGroup, first int64, firstCreated time.Time, err error) {
	if n < 1 {
		return g, 0, time.Time{}, fmt.Errorf("store: reserve %d versions: need at least one", n)
	}
	const ms = int64(time.Millisecond)
	const bump = `UPDATE model_package_groups
		SET latest_version = latest_version + $3,
		    last_created_at = (CASE WHEN $2 > last_created_at THEN $2 ELSE last_created_at + 1000000 END) + ($3 - 1) * 1000000
		WHERE arn = $1`
	const cols = `id, arn, name, description, status, created_at, created_by, latest_version, last_created_at`
	var row *sql.Row
	if tx.s.dialect == Postgres {
		row = tx.QueryRowContext(ctx, bump+` RETURNING `+cols, groupARN, Nanos(now), int64(n))
	} else {
		// SQLite implements RETURNING with a trigger, which costs a statement journal; the
		// transaction holds the only write lock, so a separate read sees exactly this update.
		res, err := tx.ExecContext(ctx, bump, groupARN, Nanos(now), int64(n))
		if err != nil {
			return g, 0, time.Time{}, fmt.Errorf("store: next version: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return g, 0, time.Time{}, fmt.Errorf("store: model package group: %w", ErrNotFound)
		}
		row = tx.QueryRowContext(ctx, `SELECT `+cols+` FROM model_package_groups WHERE arn = $1`, groupARN)
	}
	var lastNanos, groupCreated int64
	var by string
	err = row.Scan(&g.ID, &g.ARN, &g.Name, &g.Description, &g.Status, &groupCreated, &by, &g.LatestVersion, &lastNanos)
	if err != nil {
		return g, 0, time.Time{}, notFound(err, "model package group")
	}
	g.CreatedAt = FromNanos(groupCreated)
	g.CreatedBy = json.RawMessage(by)
	first = g.LatestVersion - int64(n) + 1
	return g, first, FromNanos(lastNanos - int64(n-1)*ms), nil
}

// ListModelPackageGroups returns up to q.Limit groups in q's order.
func (s *Store) ListModelPackageGroups(ctx context.Context, q ModelPackageGroupQuery) ([]ModelPackageGroup, error) {
	var b queryBuilder
	if q.NameContains != "" {
		b.where(`LOWER(name) LIKE ` + b.arg(likeContains(q.NameContains)) + ` ESCAPE '\'`)
	}
	b.timeWindow(q.CreatedAfter, q.CreatedBefore)
	sortCol := "created_at"
	if q.SortByName {
		sortCol = "name"
	}
	if err := b.keyset(sortCol, q.SortByName, q.Descending, q.After); err != nil {
		return nil, err
	}
	rows, err := s.reads().QueryContext(ctx, `SELECT `+groupColumns+` FROM model_package_groups`+b.sql(sortCol, q.Descending, q.Limit), b.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list model package groups: %w", err)
	}
	return collect(rows, scanGroup)
}

const packageColumns = `id, COALESCE(group_id, 0), arn, name, group_name, version, description, approval_status, approval_description, status,
	created_at, created_by, modified_at, modified_by, customer_metadata, spec, COALESCE(client_token, '')`

func scanPackage(sc scanner) (ModelPackage, error) {
	var p ModelPackage
	var created, modified int64
	var createdBy, modifiedBy, meta, spec string
	err := sc.Scan(&p.ID, &p.GroupID, &p.ARN, &p.Name, &p.GroupName, &p.Version, &p.Description, &p.ApprovalStatus, &p.ApprovalDescription, &p.Status,
		&created, &createdBy, &modified, &modifiedBy, &meta, &spec, &p.ClientToken)
	if err != nil {
		return p, err
	}
	p.CreatedAt, p.ModifiedAt = FromNanos(created), FromNanos(modified)
	p.CreatedBy, p.ModifiedBy, p.Spec = json.RawMessage(createdBy), json.RawMessage(modifiedBy), json.RawMessage(spec)
	if meta != "" && meta != "{}" {
		if err := json.Unmarshal([]byte(meta), &p.CustomerMetadata); err != nil {
			return p, fmt.Errorf("store: model package %s: customer metadata: %w", p.ARN, err)
		}
	}
	return p, nil
}

// InsertModelPackage stores a new package and sets its ID. A package with the same ARN or client
// token is ErrConflict.
func (tx *Tx) InsertModelPackage(ctx context.Context, p *ModelPackage) error {
	meta, err := metadataText(p.CustomerMetadata)
	if err != nil {
		return err
	}
	var groupID, token any
	if p.GroupID != 0 {
		groupID = p.GroupID
	}
	if p.ClientToken != "" {
		token = p.ClientToken
	}
	const insert = `INSERT INTO model_packages (arn, name, group_id, group_name, version, description, approval_status, approval_description, status,
		created_at, created_by, modified_at, modified_by, customer_metadata, spec, client_token)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`
	args := []any{p.ARN, p.Name, groupID, p.GroupName, p.Version, p.Description, p.ApprovalStatus, p.ApprovalDescription, p.Status,
		Nanos(p.CreatedAt), jsonText(p.CreatedBy), Nanos(p.ModifiedAt), jsonText(p.ModifiedBy), meta, jsonText(p.Spec), token}
	if tx.s.dialect == Postgres {
		err = tx.QueryRowContext(ctx, insert+` RETURNING id`, args...).Scan(&p.ID)
	} else {
		// LastInsertId instead of RETURNING: see NextVersion.
		var res sql.Result
		if res, err = tx.ExecContext(ctx, insert, args...); err == nil {
			p.ID, err = res.LastInsertId()
		}
	}
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: model package %s: %w", p.ARN, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert model package: %w", err)
	}
	return nil
}

// InsertModelPackages stores many new packages in a few statements, for bulk imports. IDs are
// not reported back.
func (tx *Tx) InsertModelPackages(ctx context.Context, ps []ModelPackage) error {
	// 50 rows of 16 parameters a statement: a full batch is always the same text, so it is
	// prepared once, and SQLite's parameter lookup (linear in the number of parameters) stays
	// cheap.
	const perStatement = 50
	for start := 0; start < len(ps); start += perStatement {
		batch := ps[start:min(start+perStatement, len(ps))]
		var b strings.Builder
		b.WriteString(`INSERT INTO model_packages (arn, name, group_id, group_name, version, description, approval_status, approval_description, status,
		created_at, created_by, modified_at, modified_by, customer_metadata, spec, client_token) VALUES `)
		args := make([]any, 0, len(batch)*16)
		for i, p := range batch {
			meta, err := metadataText(p.CustomerMetadata)
			if err != nil {
				return err
			}
			var groupID, token any
			if p.GroupID != 0 {
				groupID = p.GroupID
			}
			if p.ClientToken != "" {
				token = p.ClientToken
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for j := 1; j <= 16; j++ {
				if j > 1 {
					b.WriteString(", ")
				}
				b.WriteString("$" + strconv.Itoa(len(args)+j))
			}
			b.WriteString(")")
			args = append(args, p.ARN, p.Name, groupID, p.GroupName, p.Version, p.Description, p.ApprovalStatus, p.ApprovalDescription, p.Status,
				Nanos(p.CreatedAt), jsonText(p.CreatedBy), Nanos(p.ModifiedAt), jsonText(p.ModifiedBy), meta, jsonText(p.Spec), token)
		}
		_, err := tx.ExecContext(ctx, b.String(), args...)
		if IsUniqueViolation(err) {
			return fmt.Errorf("store: bulk insert model packages: %w", ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("store: bulk insert model packages: %w", err)
		}
	}
	return nil
}

// ModelPackage reads a package by ARN.
func (s *Store) ModelPackage(ctx context.Context, arn string) (ModelPackage, error) {
	p, err := scanPackage(s.reads().QueryRowContext(ctx, `SELECT `+packageColumns+` FROM model_packages WHERE arn = $1`, arn))
	return p, notFound(err, "model package")
}

// LockModelPackage reads a package by ARN and holds it against concurrent changes until the
// transaction ends.
func (tx *Tx) LockModelPackage(ctx context.Context, arn string) (ModelPackage, error) {
	p, err := scanPackage(tx.QueryRowContext(ctx, `SELECT `+packageColumns+` FROM model_packages WHERE arn = $1`+tx.forUpdate(), arn))
	return p, notFound(err, "model package")
}

// ModelPackageByClientToken finds the package a create request with this idempotency token made.
func (tx *Tx) ModelPackageByClientToken(ctx context.Context, token string) (ModelPackage, error) {
	p, err := scanPackage(tx.QueryRowContext(ctx, `SELECT `+packageColumns+` FROM model_packages WHERE client_token = $1`, token))
	return p, notFound(err, "model package")
}

// UpdateModelPackage writes the mutable columns of p (approval, descriptions, metadata, spec and
// the modification stamp).
func (tx *Tx) UpdateModelPackage(ctx context.Context, p ModelPackage) error {
	meta, err := metadataText(p.CustomerMetadata)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE model_packages SET approval_status = $2, approval_description = $3, status = $4, modified_at = $5,
		modified_by = $6, customer_metadata = $7, spec = $8 WHERE id = $1`,
		p.ID, p.ApprovalStatus, p.ApprovalDescription, p.Status, Nanos(p.ModifiedAt), jsonText(p.ModifiedBy), meta, jsonText(p.Spec))
	if err != nil {
		return fmt.Errorf("store: update model package: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: model package %s: %w", p.ARN, ErrNotFound)
	}
	return nil
}

// DeleteModelPackage removes a package row.
func (tx *Tx) DeleteModelPackage(ctx context.Context, id int64) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM model_packages WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete model package: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: model package %d: %w", id, ErrNotFound)
	}
	return nil
}

// ListModelPackages returns up to q.Limit packages in q's order.
func (s *Store) ListModelPackages(ctx context.Context, q ModelPackageQuery) ([]ModelPackage, error) {
	var b queryBuilder
	switch {
	case q.GroupARN != "":
		if q.Type == PackagesUnversioned {
			return nil, nil
		}
		b.where(`group_id = (SELECT id FROM model_package_groups WHERE arn = ` + b.arg(q.GroupARN) + `)`)
	case q.Type == PackagesVersioned:
		b.where(`group_id IS NOT NULL`)
	case q.Type == PackagesBoth:
	default:
		b.where(`group_id IS NULL`)
	}
	if q.ApprovalStatus != "" {
		b.where(`approval_status = ` + b.arg(q.ApprovalStatus))
	}
	if q.NameContains != "" {
		b.where(`LOWER(name) LIKE ` + b.arg(likeContains(q.NameContains)) + ` ESCAPE '\'`)
	}
	b.timeWindow(q.CreatedAfter, q.CreatedBefore)
	sortCol := "created_at"
	if q.SortByName {
		sortCol = "name"
	}
	if err := b.keyset(sortCol, q.SortByName, q.Descending, q.After); err != nil {
		return nil, err
	}
	rows, err := s.reads().QueryContext(ctx, `SELECT `+packageColumns+` FROM model_packages`+b.sql(sortCol, q.Descending, q.Limit), b.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list model packages: %w", err)
	}
	return collect(rows, scanPackage)
}

// queryBuilder assembles the WHERE clause and numbered arguments of a list query.
type queryBuilder struct {
	conds []string
	args  []any
}

func (b *queryBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *queryBuilder) where(cond string) { b.conds = append(b.conds, cond) }

func (b *queryBuilder) timeWindow(after, before time.Time) {
	if !after.IsZero() {
		b.where(`created_at > ` + b.arg(Nanos(after)))
	}
	if !before.IsZero() {
		b.where(`created_at < ` + b.arg(Nanos(before)))
	}
}

// keyset adds the condition that resumes after cursor c in the given order.
func (b *queryBuilder) keyset(sortCol string, textSort, desc bool, c *Cursor) error {
	if c == nil {
		return nil
	}
	var sortVal any = c.Sort
	if !textSort {
		n, err := strconv.ParseInt(c.Sort, 10, 64)
		if err != nil {
			return fmt.Errorf("store: cursor %q: not a time", c.Sort)
		}
		sortVal = n
	}
	op := ">"
	if desc {
		op = "<"
	}
	b.where(`(` + sortCol + `, id) ` + op + ` (` + b.arg(sortVal) + `, ` + b.arg(c.ID) + `)`)
	return nil
}

func (b *queryBuilder) sql(sortCol string, desc bool, limit int) string {
	var sb strings.Builder
	if len(b.conds) > 0 {
		sb.WriteString(" WHERE ")
		sb.WriteString(strings.Join(b.conds, " AND "))
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	sb.WriteString(" ORDER BY " + sortCol + dir + ", id" + dir)
	if limit > 0 {
		// A parameter, not text: the statement stays the same for every page size and is
		// prepared once.
		sb.WriteString(" LIMIT " + b.arg(limit))
	}
	return sb.String()
}

// likeContains builds a LIKE pattern matching s anywhere, lower-cased, with wildcards escaped.
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

func jsonText(b json.RawMessage) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}

func metadataText(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("store: encode customer metadata: %w", err)
	}
	return string(b), nil
}

// notFound maps sql.ErrNoRows to ErrNotFound and wraps other errors.
func notFound(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	default:
		return fmt.Errorf("store: read %s: %w", what, err)
	}
}
