// Package events reads the outbox: it turns stored events into EventBridge's envelope and lets
// consumers follow them by cursor, at least once and in order.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// Source is the EventBridge source of every SageMaker event.
const Source = "aws.sagemaker"

// Detail types Sluice emits.
const (
	ModelPackageStateChange = "SageMaker Model Package State Change"
)

// Envelope is an event as EventBridge delivers it.
type Envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
	// Cursor is the outbox position; pass it as `after` to continue from this event.
	Cursor int64 `json:"cursor"`
}

// Log reads events for one region and account.
type Log struct {
	Store     *store.Store
	Region    string
	AccountID string
}

// Emit appends an event to tx; it is visible once tx commits.
func Emit(ctx context.Context, tx *store.Tx, detailType string, resources []string, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("events: encode detail: %w", err)
	}
	return tx.AppendEvent(ctx, store.Event{Time: time.Now().UTC(), Source: Source, DetailType: detailType, Resources: resources, Detail: b})
}

// After returns up to limit events after the cursor.
func (l *Log) After(ctx context.Context, after int64, limit int) ([]Envelope, error) {
	evs, err := l.Store.EventsAfter(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Envelope, len(evs))
	for i, ev := range evs {
		out[i] = l.envelope(ev)
	}
	return out, nil
}

func (l *Log) envelope(ev store.Event) Envelope {
	res := ev.Resources
	if res == nil {
		res = []string{}
	}
	return Envelope{
		Version:    "0",
		ID:         fmt.Sprintf("%08x-0000-4000-8000-%012x", ev.Time.Unix()&0xffffffff, ev.ID),
		DetailType: ev.DetailType,
		Source:     ev.Source,
		Account:    l.AccountID,
		Time:       ev.Time.UTC().Format(time.RFC3339),
		Region:     l.Region,
		Resources:  res,
		Detail:     ev.Detail,
		Cursor:     ev.ID,
	}
}

// Follow calls fn for every event after the cursor, in order, waiting for new ones until ctx
// ends or fn fails. It wakes on local commits and polls every poll interval for commits made by
// other replicas.
func (l *Log) Follow(ctx context.Context, after int64, poll time.Duration, fn func(Envelope) error) error {
	for {
		changed := l.Store.Changed()
		evs, err := l.After(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if err := fn(ev); err != nil {
				return err
			}
			after = ev.Cursor
		}
		if len(evs) == 500 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-time.After(poll):
		}
	}
}
