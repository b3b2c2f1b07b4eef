package alarm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ml/sluice/internal/store"
)

// Timing of the evaluator.
const (
	// maxIdle is the longest the evaluator sleeps: it bounds how late a change caused by time
	// alone (data stopping) is noticed when no period boundary is nearer.
	maxIdle = time.Second
	// boundaryGrace is how long after a period ends the evaluator reads it, so a datapoint
	// recorded in the period's last microseconds is not missed.
	boundaryGrace = 10 * time.Millisecond
	// minDataGap spaces evaluations triggered by arriving data, so a busy endpoint costs at
	// most 100 evaluations a second. It is real time, not the injected clock: it protects the
	// CPU and has no meaning for the alarm semantics.
	minDataGap = 10 * time.Millisecond
	// maxManualHold bounds how long a state set by SetAlarmState holds before evaluation
	// resumes (at the next period boundary, or after this, whichever is sooner).
	maxManualHold = time.Minute
	// historyRetention is how long alarm history is kept, as in CloudWatch.
	historyRetention = 30 * 24 * time.Hour
)

// Event detail type and source of alarm state changes in the outbox, as EventBridge names them.
const (
	EventSource            = "aws.cloudwatch"
	EventStateChange       = "CloudWatch Alarm State Change"
	alarmTypeMetric        = "MetricAlarm"
	initialReason          = "Unchecked: Initial alarm creation"
	maxStateReason         = 1023
	maxStateReasonData     = 4000
	maxDeleteAlarms        = 100
	defaultDescribeRecords = 50
)

// Options configure a Service.
type Options struct {
	// Region and AccountID appear in alarm ARNs.
	Region, AccountID string
	// Clock is the time source; nil means the system clock. It should be the recorder's.
	Clock Clock
	Log   *slog.Logger
}

// Service keeps metric alarms and evaluates them. Definitions, current state and history are in
// the store; metric data is in the Recorder's memory. One Service per server evaluates every
// alarm against the metrics recorded in that process.
type Service struct {
	store   *store.Store
	rec     *Recorder
	clock   Clock
	region  string
	account string
	log     *slog.Logger

	mu       sync.Mutex
	alarms   map[string]*entry
	versions uint64
	watchers map[*watcher]struct{}

	// kick asks the evaluator to run now (an alarm was put or its state set).
	kick chan struct{}
}

// entry is an alarm in memory with what evaluating it needs.
type entry struct {
	alarm   Alarm
	version uint64
	src     source
	stat    Statistic
	// holdUntil suspends evaluation after SetAlarmState; pinned suspends it until Release.
	holdUntil time.Time
	pinned    bool
}

// Open loads the alarms from the store and returns the service; Run evaluates them.
func Open(ctx context.Context, st *store.Store, rec *Recorder, opts Options) (*Service, error) {
	if opts.Clock == nil {
		opts.Clock = rec.clock
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		store: st, rec: rec, clock: opts.Clock, region: opts.Region, account: opts.AccountID, log: opts.Log,
		alarms: map[string]*entry{}, watchers: map[*watcher]struct{}{}, kick: make(chan struct{}, 1),
	}
	rows, err := st.Alarms(ctx)
	if err != nil {
		return nil, fmt.Errorf("alarm: load: %w", err)
	}
	for _, r := range rows {
		var d Definition
		if err := json.Unmarshal(r.Spec, &d); err != nil {
			return nil, fmt.Errorf("alarm: load %q: %w", r.Name, err)
		}
		src, err := rec.source(d.Key())
		if err != nil {
			return nil, fmt.Errorf("alarm: load %q: %w", r.Name, err)
		}
		src.watch()
		s.versions++
		s.alarms[r.Name] = &entry{
			alarm: Alarm{Definition: d, ARN: r.ARN, ConfigurationUpdated: r.ConfigUpdatedAt, State: State{
				Value: StateValue(r.StateValue), Reason: r.StateReason, ReasonData: r.StateReasonData,
				Updated: r.StateUpdatedAt, Transitioned: r.StateTransitionedAt,
			}},
			version: s.versions, src: src, stat: d.statistic(),
		}
	}
	return s, nil
}

// Recorder is the metric store the service evaluates.
func (s *Service) Recorder() *Recorder { return s.rec }

// ARN returns the ARN of the alarm with this name.
func (s *Service) ARN(name string) string {
	return fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", s.region, s.account, name)
}

func (s *Service) kickEval() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Put creates or replaces an alarm (PutMetricAlarm). A new alarm starts in INSUFFICIENT_DATA and
// is evaluated at once; an existing alarm keeps its state and is re-evaluated with the new
// definition. created reports which happened.
func (s *Service) Put(ctx context.Context, d Definition) (a Alarm, created bool, err error) {
	if err := d.Validate(); err != nil {
		return Alarm{}, false, err
	}
	src, err := s.rec.source(d.Key())
	if errors.Is(err, ErrTooManySeries) {
		return Alarm{}, false, errorf(ErrLimit, "%v", err)
	}
	if err != nil {
		return Alarm{}, false, err
	}
	spec, err := json.Marshal(d)
	if err != nil {
		return Alarm{}, false, fmt.Errorf("alarm: encode definition: %w", err)
	}
	now := s.clock.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.alarms[d.AlarmName]
	arn := s.ARN(d.AlarmName)
	a = Alarm{Definition: d, ARN: arn, ConfigurationUpdated: now}
	if old == nil {
		a.State = State{Value: StateInsufficientData, Reason: initialReason, Updated: now, Transitioned: now}
	} else {
		a.State = old.alarm.State
	}
	err = s.store.InTx(ctx, func(tx *store.Tx) error {
		h := store.AlarmHistoryRow{AlarmName: d.AlarmName, AlarmType: alarmTypeMetric, Time: now, ItemType: string(HistoryConfigurationUpdate)}
		if old == nil {
			row := store.AlarmRow{Name: d.AlarmName, ARN: arn, Spec: spec, StateValue: string(a.State.Value), StateReason: a.State.Reason,
				StateUpdatedAt: now, StateTransitionedAt: now, ConfigUpdatedAt: now, CreatedAt: now}
			if err := tx.InsertAlarm(ctx, &row); err != nil {
				return err
			}
			h.Summary = fmt.Sprintf("Alarm %q created", d.AlarmName)
			h.Data = historyJSON(map[string]any{"version": "1.0", "type": "Create", "createdAlarm": configDoc(&a)})
		} else {
			if err := tx.UpdateAlarmSpec(ctx, d.AlarmName, spec, now); err != nil {
				return err
			}
			h.Summary = fmt.Sprintf("Alarm %q updated", d.AlarmName)
			h.Data = historyJSON(map[string]any{"version": "1.0", "type": "Update", "updatedAlarm": configDoc(&a), "originalAlarm": configDoc(&old.alarm)})
		}
		return tx.InsertAlarmHistory(ctx, &h)
	})
	if err != nil {
		return Alarm{}, false, fmt.Errorf("alarm: put %q: %w", d.AlarmName, err)
	}
	src.watch()
	s.versions++
	s.alarms[d.AlarmName] = &entry{alarm: a, version: s.versions, src: src, stat: d.statistic()}
	s.kickEval()
	return a, old == nil, nil
}

// Get returns the alarm with this name.
func (s *Service) Get(name string) (Alarm, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.alarms[name]
	if e == nil {
		return Alarm{}, false
	}
	return cloneAlarm(&e.alarm), true
}

// Missing returns the names that are not alarms, in the order given: a deployment checks its
// AutoRollbackConfiguration with it before relying on Watch, which ignores unknown names.
func (s *Service) Missing(names ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range names {
		if s.alarms[n] == nil {
			out = append(out, n)
		}
	}
	return out
}

// Firing returns the named alarms that are in ALARM now, in the order given.
func (s *Service) Firing(names ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range names {
		if e := s.alarms[n]; e != nil && e.alarm.State.Value == StateAlarm {
			out = append(out, n)
		}
	}
	return out
}

func cloneAlarm(a *Alarm) Alarm {
	c := *a
	c.Dimensions = slices.Clone(a.Dimensions)
	c.OKActions = slices.Clone(a.OKActions)
	c.AlarmActions = slices.Clone(a.AlarmActions)
	c.InsufficientDataActions = slices.Clone(a.InsufficientDataActions)
	c.Tags = slices.Clone(a.Tags)
	return c
}

// ListQuery selects alarms for DescribeAlarms.
type ListQuery struct {
	// Names lists alarms by exact name; NamePrefix by prefix. They cannot be combined.
	Names      []string
	NamePrefix string
	// State filters by state value.
	State StateValue
	// ActionPrefix keeps alarms with an action starting with it.
	ActionPrefix string
	// Limit is MaxRecords (default 50); NextToken resumes a previous page.
	Limit     int
	NextToken string
}

// List returns alarms sorted by name, a page at a time; next is empty on the last page.
func (s *Service) List(q ListQuery) (out []Alarm, next string, err error) {
	if len(q.Names) > 0 && q.NamePrefix != "" {
		return nil, "", errorf(ErrCombination, "AlarmNames and AlarmNamePrefix cannot be used together.")
	}
	if q.Limit <= 0 {
		q.Limit = defaultDescribeRecords
	}
	digest := listDigest(q)
	after := ""
	if q.NextToken != "" {
		after, err = decodeToken(q.NextToken, digest)
		if err != nil {
			return nil, "", err
		}
	}
	var names []string
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(q.Names) > 0 {
		for _, n := range q.Names {
			if s.alarms[n] != nil && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	} else {
		for n := range s.alarms {
			if strings.HasPrefix(n, q.NamePrefix) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if after != "" && n <= after {
			continue
		}
		a := &s.alarms[n].alarm
		if q.State != "" && a.State.Value != q.State {
			continue
		}
		if q.ActionPrefix != "" && !hasActionPrefix(a, q.ActionPrefix) {
			continue
		}
		if len(out) == q.Limit {
			return out, encodeToken(out[len(out)-1].AlarmName, digest), nil
		}
		out = append(out, cloneAlarm(a))
	}
	return out, "", nil
}

func hasActionPrefix(a *Alarm, p string) bool {
	for _, l := range [][]string{a.AlarmActions, a.OKActions, a.InsufficientDataActions} {
		for _, x := range l {
			if strings.HasPrefix(x, p) {
				return true
			}
		}
	}
	return false
}

func listDigest(q ListQuery) string {
	return strings.Join(q.Names, "\x00") + "|" + q.NamePrefix + "|" + string(q.State) + "|" + q.ActionPrefix
}

// Tokens are opaque to clients: the position and a digest of the filters, so a token used with
// other filters is refused rather than silently skipping alarms.
func encodeToken(pos, digest string) string {
	b, _ := json.Marshal([2]string{pos, digest})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(tok, digest string) (string, error) {
	var v [2]string
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil || v[1] != digest {
		return "", errorf(ErrNextToken, "NextToken %.40q was not issued by this list with these filters; start again without it.", tok)
	}
	return v[0], nil
}

// Delete removes alarms (DeleteAlarms). Names that do not exist are skipped; the deletions and
// their history entries are one transaction, so an error deletes nothing.
func (s *Service) Delete(ctx context.Context, names []string) error {
	if len(names) > maxDeleteAlarms {
		return errorf(ErrLimit, "%d alarm names given; at most %d can be deleted at once.", len(names), maxDeleteAlarms)
	}
	now := s.clock.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []*entry
	for _, n := range names {
		if e := s.alarms[n]; e != nil && !slices.Contains(gone, e) {
			gone = append(gone, e)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	err := s.store.InTx(ctx, func(tx *store.Tx) error {
		for _, e := range gone {
			if err := tx.DeleteAlarm(ctx, e.alarm.AlarmName); err != nil {
				return err
			}
			h := store.AlarmHistoryRow{AlarmName: e.alarm.AlarmName, AlarmType: alarmTypeMetric, Time: now, ItemType: string(HistoryConfigurationUpdate),
				Summary: fmt.Sprintf("Alarm %q deleted", e.alarm.AlarmName),
				Data:    historyJSON(map[string]any{"version": "1.0", "type": "Delete", "deletedAlarm": configDoc(&e.alarm)})}
			if err := tx.InsertAlarmHistory(ctx, &h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alarm: delete: %w", err)
	}
	for _, e := range gone {
		delete(s.alarms, e.alarm.AlarmName)
		s.broadcastLocked(StateChange{AlarmName: e.alarm.AlarmName, AlarmARN: e.alarm.ARN, Old: e.alarm.State.Value, Time: now, Deleted: true})
	}
	return nil
}

// SetState sets an alarm's state by hand (SetAlarmState), for tests and drills. As in
// CloudWatch, evaluation puts the alarm back to its actual state soon after: here at the next
// period boundary (at most a minute later). reasonData, when given, must be JSON.
func (s *Service) SetState(ctx context.Context, name string, value StateValue, reason, reasonData string) error {
	return s.setState(ctx, name, value, reason, reasonData, false)
}

// Force sets an alarm's state and holds it there, suspending evaluation, until Release or the
// next Put of the alarm. It is for tests of what reacts to alarms.
func (s *Service) Force(ctx context.Context, name string, value StateValue, reason string) error {
	return s.setState(ctx, name, value, reason, "", true)
}

// Release resumes evaluation of an alarm held by Force.
func (s *Service) Release(name string) {
	s.mu.Lock()
	if e := s.alarms[name]; e != nil {
		e.pinned = false
	}
	s.mu.Unlock()
	s.kickEval()
}

func (s *Service) setState(ctx context.Context, name string, value StateValue, reason, reasonData string, pin bool) error {
	if _, err := ParseState(string(value)); err != nil {
		return err
	}
	if len([]rune(reason)) > maxStateReason {
		return errorf(ErrInvalid, "StateReason is %d characters long; at most %d are allowed.", len([]rune(reason)), maxStateReason)
	}
	if reasonData != "" {
		if len(reasonData) > maxStateReasonData {
			return errorf(ErrInvalid, "StateReasonData is %d characters long; at most %d are allowed.", len(reasonData), maxStateReasonData)
		}
		if !json.Valid([]byte(reasonData)) {
			return errorf(ErrFormat, "StateReasonData must be a JSON document.")
		}
	}
	now := s.clock.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.alarms[name]
	if e == nil {
		return errorf(ErrNotFound, "Alarm %s does not exist.", name)
	}
	if err := s.transitionLocked(ctx, e, value, reason, reasonData, now); err != nil {
		return err
	}
	if pin {
		e.pinned = true
	} else {
		p := time.Duration(e.alarm.Period) * time.Second
		e.holdUntil = minTime(periodStart(now, p).Add(p), now.Add(maxManualHold))
	}
	s.kickEval()
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// transitionLocked stores and announces a state. A change of value writes a history entry and
// an outbox event in the same transaction and then tells the watchers. The caller holds s.mu.
func (s *Service) transitionLocked(ctx context.Context, e *entry, value StateValue, reason, data string, now time.Time) error {
	old := e.alarm.State
	next := State{Value: value, Reason: reason, ReasonData: data, Updated: now, Transitioned: old.Transitioned}
	changed := value != old.Value
	if changed {
		next.Transitioned = now
	}
	name := e.alarm.AlarmName
	err := s.store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.UpdateAlarmState(ctx, name, string(value), reason, data, next.Updated, next.Transitioned); err != nil {
			return err
		}
		if !changed {
			return nil
		}
		newDoc := map[string]any{"stateValue": value, "stateReason": reason}
		if data != "" {
			newDoc["stateReasonData"] = json.RawMessage(data)
		}
		h := store.AlarmHistoryRow{AlarmName: name, AlarmType: alarmTypeMetric, Time: now, ItemType: string(HistoryStateUpdate),
			Summary: fmt.Sprintf("Alarm updated from %s to %s", old.Value, value),
			Data: historyJSON(map[string]any{"version": "1.0",
				"oldState": map[string]any{"stateValue": old.Value, "stateReason": old.Reason},
				"newState": newDoc})}
		if err := tx.InsertAlarmHistory(ctx, &h); err != nil {
			return err
		}
		return tx.AppendEvent(ctx, store.Event{Time: now, Source: EventSource, DetailType: EventStateChange, Resources: []string{e.alarm.ARN},
			Detail: eventDetail(&e.alarm, old, next)})
	})
	if err != nil {
		return fmt.Errorf("alarm: set state of %q: %w", name, err)
	}
	e.alarm.State = next
	if changed {
		s.log.Info("alarm state changed", "alarm", name, "from", string(old.Value), "to", string(value))
		s.broadcastLocked(StateChange{AlarmName: name, AlarmARN: e.alarm.ARN, Old: old.Value, New: value, Reason: reason, ReasonData: data, Time: now})
	}
	return nil
}

// eventDetail is the EventBridge detail of "CloudWatch Alarm State Change".
func eventDetail(a *Alarm, old, next State) json.RawMessage {
	state := func(st State) map[string]any {
		m := map[string]any{"value": st.Value, "reason": st.Reason, "timestamp": st.Updated.UTC().Format(reasonTime)}
		if st.ReasonData != "" {
			m["reasonData"] = st.ReasonData
		}
		return m
	}
	b, _ := json.Marshal(map[string]any{
		"alarmName":     a.AlarmName,
		"state":         state(next),
		"previousState": state(old),
		"configuration": configDoc(a),
	})
	return b
}

// configDoc is an alarm's configuration as CloudWatch writes it in history and events: the
// definition with lower-camel member names.
func configDoc(a *Alarm) map[string]any {
	b, _ := json.Marshal(a.Definition)
	var m map[string]any
	json.Unmarshal(b, &m)
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[strings.ToLower(k[:1])+k[1:]] = v
	}
	out["alarmArn"] = a.ARN
	return out
}

func historyJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// HistoryQuery selects alarm history (DescribeAlarmHistory).
type HistoryQuery struct {
	// AlarmName restricts to one alarm; empty means all.
	AlarmName string
	ItemType  HistoryItemType
	// Start and End bound the entry time; zero means unbounded.
	Start, End time.Time
	// Ascending lists oldest first (ScanBy TimestampAscending); the default is newest first.
	Ascending bool
	Limit     int
	NextToken string
}

// History lists history entries a page at a time; next is empty on the last page. History of
// deleted alarms is kept, as in CloudWatch, for 30 days.
func (s *Service) History(ctx context.Context, q HistoryQuery) (out []HistoryItem, next string, err error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return nil, "", errorf(ErrInvalid, "EndDate (%s) is before StartDate (%s).", q.End.UTC().Format(time.RFC3339), q.Start.UTC().Format(time.RFC3339))
	}
	digest := strings.Join([]string{q.AlarmName, string(q.ItemType), strconv.FormatInt(store.Nanos(q.Start), 10), strconv.FormatInt(store.Nanos(q.End), 10), strconv.FormatBool(q.Ascending)}, "|")
	sq := store.AlarmHistoryQuery{AlarmName: q.AlarmName, ItemType: string(q.ItemType), Start: q.Start, End: q.End, Ascending: q.Ascending, Limit: q.Limit + 1}
	if q.NextToken != "" {
		pos, err := decodeToken(q.NextToken, digest)
		if err != nil {
			return nil, "", err
		}
		t, id, ok := strings.Cut(pos, ":")
		tn, err1 := strconv.ParseInt(t, 10, 64)
		idn, err2 := strconv.ParseInt(id, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, "", errorf(ErrNextToken, "NextToken is not valid; start again without it.")
		}
		sq.After = &store.AlarmHistoryCursor{Time: store.FromNanos(tn), ID: idn}
	}
	rows, err := s.store.AlarmHistory(ctx, sq)
	if err != nil {
		return nil, "", fmt.Errorf("alarm: history: %w", err)
	}
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		last := rows[len(rows)-1]
		next = encodeToken(fmt.Sprintf("%d:%d", store.Nanos(last.Time), last.ID), digest)
	}
	for _, r := range rows {
		out = append(out, HistoryItem{AlarmName: r.AlarmName, AlarmType: r.AlarmType, Timestamp: r.Time,
			HistoryItemType: HistoryItemType(r.ItemType), HistorySummary: r.Summary, HistoryData: r.Data})
	}
	return out, next, nil
}

// watcher is one subscription of Watch.
type watcher struct {
	names  map[string]bool
	mu     sync.Mutex
	queue  []StateChange
	signal chan struct{}
}

func (w *watcher) push(c StateChange) {
	w.mu.Lock()
	w.queue = append(w.queue, c)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// Watch subscribes to state changes of the named alarms (every alarm when none is named). The
// channel first receives the current state of each named alarm that exists (Old empty), then
// every transition and deletion as it is stored, in order, until ctx ends; then it is closed.
// Nothing is dropped: a slow reader delays only itself.
func (s *Service) Watch(ctx context.Context, names ...string) <-chan StateChange {
	w := &watcher{signal: make(chan struct{}, 1)}
	if len(names) > 0 {
		w.names = map[string]bool{}
		for _, n := range names {
			w.names[n] = true
		}
	}
	s.mu.Lock()
	var current []string
	for n := range s.alarms {
		if w.names == nil || w.names[n] {
			current = append(current, n)
		}
	}
	slices.Sort(current)
	for _, n := range current {
		a := &s.alarms[n].alarm
		w.push(StateChange{AlarmName: n, AlarmARN: a.ARN, New: a.State.Value, Reason: a.State.Reason, ReasonData: a.State.ReasonData, Time: a.State.Updated})
	}
	s.watchers[w] = struct{}{}
	s.mu.Unlock()

	out := make(chan StateChange)
	go func() {
		defer close(out)
		defer func() {
			s.mu.Lock()
			delete(s.watchers, w)
			s.mu.Unlock()
		}()
		for {
			w.mu.Lock()
			batch := w.queue
			w.queue = nil
			w.mu.Unlock()
			for _, c := range batch {
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-w.signal:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func (s *Service) broadcastLocked(c StateChange) {
	for w := range s.watchers {
		if w.names == nil || w.names[c.AlarmName] {
			w.push(c)
		}
	}
}

// Run is the evaluator: it evaluates every alarm when a watched metric receives data, when an
// alarm is put or its state set, at every period boundary, and at least once a second, until
// ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var lastPrune, lastData time.Time
	for {
		s.rec.rearm()
		next, err := s.Evaluate(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.Warn("alarm evaluation failed", slog.Any("error", err))
		}
		now := s.clock.Now()
		if now.Sub(lastPrune) >= time.Hour {
			lastPrune = now
			s.pruneHistory(ctx, now)
		}
		// Between period boundaries, new data can only settle a period early; until the next
		// boundary (or tick, or change of an alarm), data wakes evaluate just those alarms.
		timer := s.clock.After(min(max(next.Sub(now), 0), maxIdle))
	wait:
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.kick:
				break wait
			case <-timer:
				break wait
			case <-s.rec.woken():
				if gap := minDataGap - time.Since(lastData); gap > 0 {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(gap):
					}
				}
				lastData = time.Now()
				s.rec.rearm()
				if err := s.evaluate(ctx, true); err != nil && ctx.Err() == nil {
					s.log.Warn("alarm evaluation failed", slog.Any("error", err))
				}
			}
		}
	}
}

func (s *Service) pruneHistory(ctx context.Context, now time.Time) {
	var n int64
	err := s.store.InTx(ctx, func(tx *store.Tx) (err error) {
		n, err = tx.PruneAlarmHistory(ctx, now.Add(-historyRetention))
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("pruning alarm history failed", slog.Any("error", err))
	} else if n > 0 {
		s.log.Info("pruned alarm history", "entries", n)
	}
}

// snapshot is what evaluating one alarm needs, copied out of the lock.
type snapshot struct {
	def     Definition
	version uint64
	src     source
	stat    Statistic
	state   StateValue
	skip    bool
	resume  time.Time
}

// Evaluate evaluates every alarm once, now, and stores the transitions. It returns when the
// next evaluation is due (the nearest period boundary). Run calls it; tests on a fake clock
// call it directly.
func (s *Service) Evaluate(ctx context.Context) (next time.Time, err error) {
	return s.evaluateAll(ctx, false)
}

// evaluate is the pass run when data arrives: with earlyOnly, only alarms whose period in
// progress has just crossed their threshold for good are evaluated.
func (s *Service) evaluate(ctx context.Context, earlyOnly bool) error {
	_, err := s.evaluateAll(ctx, earlyOnly)
	return err
}

func (s *Service) evaluateAll(ctx context.Context, earlyOnly bool) (next time.Time, err error) {
	now := s.clock.Now()
	next = now.Add(maxIdle)
	s.mu.Lock()
	snaps := make([]snapshot, 0, len(s.alarms))
	for _, e := range s.alarms {
		sn := snapshot{def: e.alarm.Definition, version: e.version, src: e.src, stat: e.stat, state: e.alarm.State.Value}
		if e.pinned {
			sn.skip = true
		} else if now.Before(e.holdUntil) {
			sn.skip, sn.resume = true, e.holdUntil
		}
		snaps = append(snaps, sn)
	}
	s.mu.Unlock()
	for i := range snaps {
		sn := &snaps[i]
		p := time.Duration(sn.def.Period) * time.Second
		if b := periodStart(now, p).Add(p + boundaryGrace); b.Before(next) {
			next = b
		}
		if sn.skip {
			if !sn.resume.IsZero() && sn.resume.Before(next) {
				next = sn.resume
			}
			continue
		}
		if earlyOnly && !settlingNow(&sn.def, sn.src, sn.stat, now) {
			continue
		}
		out := evaluateAt(&sn.def, sn.src, sn.stat, now)
		if out.retain || out.state == sn.state {
			continue
		}
		s.mu.Lock()
		e := s.alarms[sn.def.AlarmName]
		// Apply only if nothing changed the alarm while it was being evaluated.
		if e != nil && e.version == sn.version && e.alarm.State.Value == sn.state && !e.pinned && !now.Before(e.holdUntil) {
			out.describe()
			err = errors.Join(err, s.transitionLocked(ctx, e, out.state, out.reason, out.data, now.UTC()))
		}
		s.mu.Unlock()
	}
	return next, err
}

// periodStart is the start of the period of length p holding t; periods are aligned to
// multiples of p since the Unix epoch, as CloudWatch aligns them.
func periodStart(t time.Time, p time.Duration) time.Time {
	sec := t.Unix()
	ps := int64(p / time.Second)
	if ps < 1 {
		ps = 1
	}
	return time.Unix(sec-mod(sec, ps), 0)
}

// settlingNow is the cheap test of a data wake: whether the alarm's period in progress has
// crossed its threshold in a way that cannot be undone, reading that one period only.
func settlingNow(d *Definition, src source, st Statistic, now time.Time) bool {
	if !src.settlesEarly(st, d.ComparisonOperator) {
		return false
	}
	p := time.Duration(d.Period) * time.Second
	cur := src.datapoints(st, periodStart(now, p), p, 1)[0]
	return cur.Present && d.ComparisonOperator.breaches(cur.Value, d.Threshold)
}

// evaluateAt evaluates an alarm at now over its evaluation range of complete periods. When the
// period in progress has already crossed the threshold in a way it cannot undo (see
// source.settlesEarly), it is evaluated as the newest period first, so the alarm fires the
// moment the outcome is certain rather than when the period ends.
func evaluateAt(d *Definition, src source, st Statistic, now time.Time) outcome {
	p := time.Duration(d.Period) * time.Second
	open := periodStart(now, p)
	r := int(d.EvaluationPeriods) + lookBack
	pts := src.datapoints(st, open.Add(-time.Duration(r)*p), p, r+1)
	if d.Unit != "" && src.unit() != d.Unit {
		// Data recorded in another unit is not the alarm's metric, as in CloudWatch.
		for i := range pts {
			pts[i].Present = false
		}
	}
	complete := make([]Datapoint, r)
	for i := range complete {
		complete[i] = pts[r-1-i]
	}
	cur := pts[r]
	if cur.Present && src.settlesEarly(st, d.ComparisonOperator) && d.ComparisonOperator.breaches(cur.Value, d.Threshold) {
		early := append([]Datapoint{cur}, complete[:r-1]...)
		if o := decide(d, st, early, now); !o.retain && o.state == StateAlarm {
			return o
		}
	}
	return decide(d, st, complete, now)
}
