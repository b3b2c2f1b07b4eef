// Package store keeps every resource and execution of Sluice in a SQL database: embedded SQLite
// by default, PostgreSQL when a team outgrows one machine. The same SQL text serves both
// dialects (both bind $1, $2 … by number); the few differences live in the migration templates.
// Queries are grouped in one file per domain.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite", pure Go
)

// Dialect names the SQL engine behind a Store.
type Dialect string

// The two dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrNotFound is returned when a row a caller asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique key is already taken.
var ErrConflict = errors.New("already exists")

// Store is the database of one Sluice installation.
type Store struct {
	dialect Dialect
	// db takes writes (one connection on SQLite, which has a single writer) and, on PostgreSQL,
	// reads too.
	db *sql.DB
	// rdb takes reads; on SQLite a separate pool so reads proceed while a write is open (WAL).
	rdb *sql.DB
	log *slog.Logger

	mu      sync.Mutex
	waiters []chan struct{}
	// stmts caches prepared statements on SQLite, keyed by pool and SQL text (see prepared).
	stmts  sync.Map
	nstmts atomic.Int64
}

// Open connects to the database named by dsn and applies pending migrations. An empty dsn or a
// "sqlite:" path opens the embedded database at dataDir/sluice.db; "postgres://…" opens
// PostgreSQL.
func Open(ctx context.Context, dsn, dataDir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var s *Store
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err = openPostgres(dsn, log)
	case dsn == "", strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if path == "" {
			path = filepath.Join(dataDir, "sluice.db")
		}
		s, err = openSQLite(path, log)
	default:
		return nil, fmt.Errorf("store: unsupported database %q: use postgres://… or sqlite:PATH (empty for the embedded default)", redact(dsn))
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

func openSQLite(path string, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create database folder: %w", err)
	}
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return &Store{dialect: SQLite, db: w, rdb: r, log: log}, nil
}

func openPostgres(dsn string, log *slog.Logger) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(16)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", redact(dsn), err)
	}
	return &Store{dialect: Postgres, db: db, rdb: db, log: log}, nil
}

// Dialect reports which engine this store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// Close releases the database.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// Ping checks the database answers, for readiness.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.PingContext(ctx) }

// Querier is what both *sql.DB and *sql.Tx offer; query helpers take one so they run inside or
// outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Read returns the pool for reads outside a transaction.
func (s *Store) Read() Querier { return s.reads() }

// Tx is one write transaction. Events appended to it are committed with the state change they
// announce (the outbox).
type Tx struct {
	*sql.Tx
	s      *Store
	events int
}

// Store returns the store the transaction belongs to.
func (tx *Tx) Store() *Store { return tx.s }

// InTx runs fn in a write transaction, committing if fn returns nil. Transient conflicts
// (SQLite busy, PostgreSQL serialization failures and deadlocks) are retried a few times.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var tx *Tx
		tx, err = s.begin(ctx)
		if err != nil {
			if retryable(err) {
				continue
			}
			return err
		}
		err = fn(tx)
		if err == nil {
			err = tx.Commit()
			if err == nil {
				if tx.events > 0 {
					s.notify()
				}
				return nil
			}
		} else {
			tx.Rollback()
		}
		if !retryable(err) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

func (s *Store) begin(ctx context.Context) (*Tx, error) {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	return &Tx{Tx: t, s: s}, nil
}

func retryable(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "SQLITE_BUSY") || strings.Contains(m, "database is locked") ||
		strings.Contains(m, "40001") || strings.Contains(m, "40P01")
}

// IsUniqueViolation reports whether err is a unique-constraint failure on either dialect.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint failed") || strings.Contains(m, "23505") || strings.Contains(m, "duplicate key value")
}

// Changed returns a channel closed at the next commit that appended events, so watchers (the
// event stream, controllers) wake without polling hot. Watchers on other replicas poll.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	return ch
}

func (s *Store) notify() {
	s.mu.Lock()
	w := s.waiters
	s.waiters = nil
	s.mu.Unlock()
	for _, ch := range w {
		close(ch)
	}
}

// Nanos converts a time to the integer column form used for every timestamp.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos converts a stored timestamp back; zero stays the zero time.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// scanner is what *sql.Row and *sql.Rows offer to the scan functions of each domain's file.
type scanner = interface{ Scan(...any) error }

// collect reads every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
