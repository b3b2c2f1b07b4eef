package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AlarmRow is a row of alarms: a metric alarm's definition and current state.
type AlarmRow struct {
	ID   int64
	Name string
	ARN  string
	// Spec is the JSON document of the alarm's definition.
	Spec                json.RawMessage
	StateValue          string
	StateReason         string
	StateReasonData     string
	StateUpdatedAt      time.Time
	StateTransitionedAt time.Time
	ConfigUpdatedAt     time.Time
	CreatedAt           time.Time
}

// AlarmHistoryRow is a row of alarm_history.
type AlarmHistoryRow struct {
	ID        int64
	AlarmName string
	AlarmType string
	Time      time.Time
	ItemType  string
	Summary   string
	// Data is a JSON document.
	Data string
}

// AlarmHistoryQuery selects history entries.
type AlarmHistoryQuery struct {
	// AlarmName restricts the list to one alarm; empty lists every alarm's history.
	AlarmName string
	ItemType  string
	// Start and End bound the entry time, inclusive; zero means unbounded.
	Start, End time.Time
	// Ascending lists oldest first; the default is newest first, as CloudWatch does.
	Ascending bool
	// After resumes after the entry with this time and id.
	After *AlarmHistoryCursor
	Limit int
}

// AlarmHistoryCursor is a keyset position in the history.
type AlarmHistoryCursor struct {
	Time time.Time
	ID   int64
}

const alarmColumns = `id, name, arn, spec, state_value, state_reason, state_reason_data, state_updated_at, state_transitioned_at, config_updated_at, created_at`

func scanAlarm(sc scanner) (AlarmRow, error) {
	var a AlarmRow
	var spec string
	var su, st, cu, ca int64
	if err := sc.Scan(&a.ID, &a.Name, &a.ARN, &spec, &a.StateValue, &a.StateReason, &a.StateReasonData, &su, &st, &cu, &ca); err != nil {
		return a, err
	}
	a.Spec = json.RawMessage(spec)
	a.StateUpdatedAt, a.StateTransitionedAt = FromNanos(su), FromNanos(st)
	a.ConfigUpdatedAt, a.CreatedAt = FromNanos(cu), FromNanos(ca)
	return a, nil
}

func alarmNotFound(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: alarm %q: %w", name, ErrNotFound)
	default:
		return fmt.Errorf("store: read alarm %q: %w", name, err)
	}
}

// InsertAlarm stores a new alarm and sets its ID; a taken name is ErrConflict.
func (tx *Tx) InsertAlarm(ctx context.Context, a *AlarmRow) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO alarms (`+strings.TrimPrefix(alarmColumns, "id, ")+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		a.Name, a.ARN, string(a.Spec), a.StateValue, a.StateReason, a.StateReasonData,
		Nanos(a.StateUpdatedAt), Nanos(a.StateTransitionedAt), Nanos(a.ConfigUpdatedAt), Nanos(a.CreatedAt)).Scan(&a.ID)
	if IsUniqueViolation(err) {
		return fmt.Errorf("store: alarm %q: %w", a.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: insert alarm: %w", err)
	}
	return nil
}

// LockAlarm reads an alarm by name and holds its row until the transaction ends.
func (tx *Tx) LockAlarm(ctx context.Context, name string) (AlarmRow, error) {
	lock := ""
	if tx.s.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	a, err := scanAlarm(tx.QueryRowContext(ctx, `SELECT `+alarmColumns+` FROM alarms WHERE name = $1`+lock, name))
	return a, alarmNotFound(err, name)
}

// UpdateAlarmSpec replaces an alarm's definition; its state is left as it is, as PutMetricAlarm
// does for an existing alarm.
func (tx *Tx) UpdateAlarmSpec(ctx context.Context, name string, spec json.RawMessage, at time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE alarms SET spec = $1, config_updated_at = $2 WHERE name = $3`, string(spec), Nanos(at), name)
	return alarmUpdated(res, err, name)
}

// UpdateAlarmState sets an alarm's state.
func (tx *Tx) UpdateAlarmState(ctx context.Context, name, value, reason, reasonData string, updated, transitioned time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE alarms SET state_value = $1, state_reason = $2, state_reason_data = $3,
		state_updated_at = $4, state_transitioned_at = $5 WHERE name = $6`,
		value, reason, reasonData, Nanos(updated), Nanos(transitioned), name)
	return alarmUpdated(res, err, name)
}

// DeleteAlarm removes an alarm; its history stays.
func (tx *Tx) DeleteAlarm(ctx context.Context, name string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM alarms WHERE name = $1`, name)
	return alarmUpdated(res, err, name)
}

func alarmUpdated(res sql.Result, err error, name string) error {
	if err != nil {
		return fmt.Errorf("store: alarm %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: alarm %q: %w", name, ErrNotFound)
	}
	return nil
}

// Alarms lists every alarm, by name.
func (s *Store) Alarms(ctx context.Context) ([]AlarmRow, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+alarmColumns+` FROM alarms ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list alarms: %w", err)
	}
	out, err := collect(rows, scanAlarm)
	if err != nil {
		return nil, fmt.Errorf("store: list alarms: %w", err)
	}
	return out, nil
}

// InsertAlarmHistory appends a history entry and sets its ID.
func (tx *Tx) InsertAlarmHistory(ctx context.Context, h *AlarmHistoryRow) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO alarm_history (alarm_name, alarm_type, time, item_type, summary, data)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		h.AlarmName, h.AlarmType, Nanos(h.Time), h.ItemType, h.Summary, h.Data).Scan(&h.ID)
	if err != nil {
		return fmt.Errorf("store: insert alarm history: %w", err)
	}
	return nil
}

// AlarmHistory lists history entries ordered by time (then id), newest first unless q.Ascending.
func (s *Store) AlarmHistory(ctx context.Context, q AlarmHistoryQuery) ([]AlarmHistoryRow, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.AlarmName != "" {
		where = append(where, "alarm_name = "+arg(q.AlarmName))
	}
	if q.ItemType != "" {
		where = append(where, "item_type = "+arg(q.ItemType))
	}
	if !q.Start.IsZero() {
		where = append(where, "time >= "+arg(Nanos(q.Start)))
	}
	if !q.End.IsZero() {
		where = append(where, "time <= "+arg(Nanos(q.End)))
	}
	dir, cmp := "DESC", "<"
	if q.Ascending {
		dir, cmp = "ASC", ">"
	}
	if q.After != nil {
		t := arg(Nanos(q.After.Time))
		id := arg(q.After.ID)
		where = append(where, fmt.Sprintf("(time %s %s OR (time = %s AND id %s %s))", cmp, t, t, cmp, id))
	}
	query := `SELECT id, alarm_name, alarm_type, time, item_type, summary, data FROM alarm_history`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	query += fmt.Sprintf(" ORDER BY time %s, id %s LIMIT %s", dir, dir, arg(limit))
	rows, err := s.reads().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: alarm history: %w", err)
	}
	defer rows.Close()
	var out []AlarmHistoryRow
	for rows.Next() {
		var h AlarmHistoryRow
		var t int64
		if err := rows.Scan(&h.ID, &h.AlarmName, &h.AlarmType, &t, &h.ItemType, &h.Summary, &h.Data); err != nil {
			return nil, fmt.Errorf("store: alarm history: %w", err)
		}
		h.Time = FromNanos(t)
		out = append(out, h)
	}
	return out, rows.Err()
}

// PruneAlarmHistory deletes entries older than before and reports how many went.
func (tx *Tx) PruneAlarmHistory(ctx context.Context, before time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM alarm_history WHERE time < $1`, Nanos(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune alarm history: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
