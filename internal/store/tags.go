package store

import (
	"context"
	"fmt"
)

// Tag is a key/value label on a resource.
type Tag struct{ Key, Value string }

// PutTags adds or overwrites tags on arn.
func (tx *Tx) PutTags(ctx context.Context, arn string, tags []Tag) error {
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tags (arn, key, value) VALUES ($1, $2, $3) ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value`, arn, t.Key, t.Value); err != nil {
			return fmt.Errorf("store: put tag: %w", err)
		}
	}
	return nil
}

// CountTags returns how many tags arn has.
func (tx *Tx) CountTags(ctx context.Context, arn string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tags WHERE arn = $1`, arn).Scan(&n)
	return n, err
}

// DeleteTags removes the named tag keys from arn; absent keys are ignored.
func (tx *Tx) DeleteTags(ctx context.Context, arn string, keys []string) error {
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE arn = $1 AND key = $2`, arn, k); err != nil {
			return fmt.Errorf("store: delete tag: %w", err)
		}
	}
	return nil
}

// DeleteAllTags removes every tag of arn, when the resource goes.
func (tx *Tx) DeleteAllTags(ctx context.Context, arn string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE arn = $1`, arn)
	return err
}

// Tags lists arn's tags in key order, starting after the key afterKey ("" for the start).
func (s *Store) Tags(ctx context.Context, arn, afterKey string, limit int) ([]Tag, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT key, value FROM tags WHERE arn = $1 AND key > $2 ORDER BY key LIMIT $3`, arn, afterKey, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list tags: %w", err)
	}
	defer rows.Close()
	var out []Tag
	for rows.Next() {
		var t Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ResourceTables maps an ARN's resource kind to the table and ARN column that hold it, so tag
// operations can check that a resource exists. Each domain's query file registers its kinds.
var resourceTables = map[string][2]string{}

// RegisterResourceKind records where resources of an ARN kind live. Call from an init in the
// domain's query file.
func registerResourceKind(kind, table, arnColumn string) {
	resourceTables[kind] = [2]string{table, arnColumn}
}

// ResourceExists reports whether a resource with this ARN exists; kind is the ARN's resource
// type. An unknown kind is reported as not existing.
func (s *Store) ResourceExists(ctx context.Context, kind, arn string) (bool, error) {
	t, ok := resourceTables[kind]
	if !ok {
		return false, nil
	}
	var n int
	err := s.reads().QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t[0]+` WHERE `+t[1]+` = $1`, arn).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: check resource: %w", err)
	}
	return n > 0, nil
}
