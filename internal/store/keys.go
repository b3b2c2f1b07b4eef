package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AccessKey is a SigV4 credential the server accepts.
type AccessKey struct {
	AccessKeyID string
	Secret      string
	Name        string
	Root        bool
	CreatedAt   time.Time
}

// CreateAccessKey stores a new key.
func (s *Store) CreateAccessKey(ctx context.Context, k AccessKey) error {
	root := 0
	if k.Root {
		root = 1
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO access_keys (access_key_id, secret, name, is_root, created_at) VALUES ($1, $2, $3, $4, $5)`,
		k.AccessKeyID, k.Secret, k.Name, root, Nanos(k.CreatedAt))
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: access key %s: %w", k.AccessKeyID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create access key: %w", err)
	}
	return nil
}

// AccessKey returns one key by id.
func (s *Store) AccessKey(ctx context.Context, id string) (AccessKey, error) {
	var k AccessKey
	var root int
	var created int64
	err := s.reads().QueryRowContext(ctx, `SELECT access_key_id, secret, name, is_root, created_at FROM access_keys WHERE access_key_id = $1`, id).
		Scan(&k.AccessKeyID, &k.Secret, &k.Name, &root, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return k, ErrNotFound
	}
	if err != nil {
		return k, fmt.Errorf("store: read access key: %w", err)
	}
	k.Root, k.CreatedAt = root == 1, FromNanos(created)
	return k, nil
}

// AccessKeys lists every key, oldest first.
func (s *Store) AccessKeys(ctx context.Context) ([]AccessKey, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT access_key_id, secret, name, is_root, created_at FROM access_keys ORDER BY created_at, access_key_id`)
	if err != nil {
		return nil, fmt.Errorf("store: list access keys: %w", err)
	}
	defer rows.Close()
	var out []AccessKey
	for rows.Next() {
		var k AccessKey
		var root int
		var created int64
		if err := rows.Scan(&k.AccessKeyID, &k.Secret, &k.Name, &root, &created); err != nil {
			return nil, err
		}
		k.Root, k.CreatedAt = root == 1, FromNanos(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteAccessKey removes a key; ErrNotFound if there was none.
func (s *Store) DeleteAccessKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM access_keys WHERE access_key_id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete access key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
