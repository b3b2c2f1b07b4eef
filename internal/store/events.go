package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Event is one entry of the outbox, in EventBridge's shape.
type Event struct {
	// ID is the outbox sequence number, the delivery cursor.
	ID         int64
	Time       time.Time
	Source     string
	DetailType string
	Resources  []string
	Detail     json.RawMessage
}

// AppendEvent writes ev in the transaction of the change it announces.
func (tx *Tx) AppendEvent(ctx context.Context, ev Event) error {
	res, err := json.Marshal(ev.Resources)
	if err != nil {
		return err
	}
	if ev.Resources == nil {
		res = []byte("[]")
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (time, source, detail_type, resources, detail) VALUES ($1, $2, $3, $4, $5)`,
		Nanos(ev.Time), ev.Source, ev.DetailType, string(res), string(ev.Detail)); err != nil {
		return fmt.Errorf("store: append event: %w", err)
	}
	tx.events++
	return nil
}

// EventsAfter lists up to limit events with ID > after, oldest first.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT id, time, source, detail_type, resources, detail FROM events WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var t int64
		var res, detail string
		if err := rows.Scan(&ev.ID, &t, &ev.Source, &ev.DetailType, &res, &detail); err != nil {
			return nil, err
		}
		ev.Time = FromNanos(t)
		json.Unmarshal([]byte(res), &ev.Resources)
		ev.Detail = json.RawMessage(detail)
		out = append(out, ev)
	}
	return out, rows.Err()
}
