package store

import (
	"context"
	"database/sql"
)

// Prepared statements. SQLite spends about as long compiling a statement as running it, so on
// SQLite every query, inside a transaction or on the read pool, goes through a prepared
// statement kept per pool and SQL text; database/sql prepares it again on each connection as
// needed. On PostgreSQL, pgx already caches prepared statements per connection, so queries go
// straight through.

// maxStmts bounds the cache: queries are built from a fixed set of texts (values are always
// bound as arguments), so the bound only guards against a text that embeds a value by mistake.
const maxStmts = 512

type stmtKey struct {
	db    *sql.DB
	query string
}

// preparing marks a statement whose preparation is under way.
type preparing struct{}

// prepared returns query prepared on db, or nil when it is not (yet) prepared and the caller
// should run it directly. When wait is false the statement is prepared in the background: a
// transaction on SQLite holds the only write connection, so preparing on that pool from inside
// one would wait for itself.
func (s *Store) prepared(ctx context.Context, db *sql.DB, query string, wait bool) *sql.Stmt {
	if s.dialect != SQLite {
		return nil
	}
	key := stmtKey{db, query}
	if v, ok := s.stmts.Load(key); ok {
		st, _ := v.(*sql.Stmt)
		return st
	}
	if s.nstmts.Load() >= maxStmts {
		return nil
	}
	if _, loaded := s.stmts.LoadOrStore(key, preparing{}); loaded {
		return nil
	}
	s.nstmts.Add(1)
	prepare := func(ctx context.Context) *sql.Stmt {
		st, err := db.PrepareContext(ctx, query)
		if err != nil {
			// Running the query unprepared reports the error where it belongs; try again later.
			s.stmts.Delete(key)
			s.nstmts.Add(-1)
			return nil
		}
		s.stmts.Store(key, st)
		return st
	}
	if wait {
		return prepare(ctx)
	}
	go prepare(context.Background())
	return nil
}

// reads is the read pool, through the statement cache.
func (s *Store) reads() Querier { return readPool{s} }

// readPool runs queries on the read pool through the statement cache.
type readPool struct{ s *Store }

func (r readPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := r.s.prepared(ctx, r.s.rdb, query, true); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return r.s.rdb.ExecContext(ctx, query, args...)
}

func (r readPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := r.s.prepared(ctx, r.s.rdb, query, true); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.s.rdb.QueryContext(ctx, query, args...)
}

func (r readPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := r.s.prepared(ctx, r.s.rdb, query, true); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.s.rdb.QueryRowContext(ctx, query, args...)
}

// Conn reserves a connection of the read pool, for work that must stay on one connection.
func (r readPool) Conn(ctx context.Context) (*sql.Conn, error) { return r.s.rdb.Conn(ctx) }

// ExecContext runs a statement inside the transaction, prepared once when on SQLite.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.s.prepared(ctx, tx.s.db, query, false); st != nil {
		return tx.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext reads rows inside the transaction, prepared once when on SQLite.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.s.prepared(ctx, tx.s.db, query, false); st != nil {
		return tx.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext reads one row inside the transaction, prepared once when on SQLite.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.s.prepared(ctx, tx.s.db, query, false); st != nil {
		return tx.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}
