package alarm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// NamespaceSageMaker is the namespace of the metrics the data plane publishes.
const NamespaceSageMaker = "AWS/SageMaker"

// Metrics the data plane publishes for every invocation, named and dimensioned as SageMaker
// publishes them (EndpointName + VariantName). ModelLatency and OverheadLatency are in
// microseconds. Each invocation records 0 or 1 into the error metrics, so their Average is the
// error rate and their Sum the error count, as in SageMaker.
const (
	MetricInvocations         = "Invocations"
	MetricInvocation4XXErrors = "Invocation4XXErrors"
	MetricInvocation5XXErrors = "Invocation5XXErrors"
	MetricModelLatency        = "ModelLatency"
	MetricOverheadLatency     = "OverheadLatency"
)

// Derived metrics Sluice computes at query time in the AWS/SageMaker namespace (SageMaker has no
// such metrics): per period, Sum(Invocation4XXErrors or Invocation5XXErrors) / Sum(Invocations),
// a fraction from 0 to 1, with the same dimensions. Every statistic but SampleCount reports the
// ratio; SampleCount reports the number of invocations. A period without invocations is missing.
const (
	MetricInvocation4XXErrorRate = "Invocation4XXErrorRate"
	MetricInvocation5XXErrorRate = "Invocation5XXErrorRate"
)

// Dimension names of the endpoint metrics.
const (
	DimEndpointName = "EndpointName"
	DimVariantName  = "VariantName"
)

// Resolutions is how metric data is kept, in memory only: buckets of each resolution for as
// long as listed. A query reads the finest resolution that divides its period and still holds
// its start: periods that are not a multiple of 10 seconds reach back 30 minutes, multiples of
// 10 seconds three hours (as CloudWatch keeps high-resolution data), multiples of a minute a
// day. A busy latency metric costs about 1.5 KB of sketch per bucket, some 7 MB in all.
var Resolutions = []Resolution{
	{Step: time.Second, Keep: 30 * time.Minute},
	{Step: 10 * time.Second, Keep: 3 * time.Hour},
	{Step: time.Minute, Keep: 24 * time.Hour},
}

// Resolution is one tier of stored metric data.
type Resolution struct {
	Step, Keep time.Duration
}

// Reach is how far back data for periods of length p is kept: the retention of the coarsest
// resolution whose step divides p.
func Reach(p time.Duration) time.Duration {
	reach := time.Duration(0)
	for _, r := range Resolutions {
		if p%r.Step == 0 {
			reach = r.Keep
		}
	}
	return reach
}

// MaxSeries bounds how many distinct metrics (namespace, name and dimensions) a recorder holds.
const MaxSeries = 100_000

// ErrTooManySeries is returned when a new metric would exceed MaxSeries.
var ErrTooManySeries = errors.New("alarm: too many metrics")

// Dimension is a name/value pair that identifies a metric, as in CloudWatch.
type Dimension struct {
	Name  string
	Value string
}

// MetricKey identifies one metric: CloudWatch treats every distinct set of dimensions as a
// separate metric, and so does Sluice.
type MetricKey struct {
	Namespace  string
	MetricName string
	// Dimensions are sorted by name.
	Dimensions []Dimension
}

// NewMetricKey builds a key, sorting a copy of dims.
func NewMetricKey(namespace, metric string, dims []Dimension) MetricKey {
	d := slices.Clone(dims)
	slices.SortFunc(d, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
	return MetricKey{Namespace: namespace, MetricName: metric, Dimensions: d}
}

// String is the canonical form of the key, unique per metric.
func (k MetricKey) String() string {
	var b strings.Builder
	b.WriteString(k.Namespace)
	b.WriteByte(0)
	b.WriteString(k.MetricName)
	for _, d := range k.Dimensions {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte('=')
		b.WriteString(d.Value)
	}
	return b.String()
}

// Recorder is the in-memory time-series store of metric data. Recording is cheap and safe from
// many goroutines: each metric spreads its writers over striped one-second accumulators, so the
// hot path takes one uncontended lock and never allocates once a second's bucket exists.
type Recorder struct {
	clock Clock

	mu        sync.RWMutex
	series    map[string]*Series
	endpoints map[[2]string]*EndpointSeries

	// wake tells the evaluator that a watched metric received data.
	wake    chan struct{}
	pending atomic.Bool
}

// NewRecorder returns an empty recorder on clock (nil means the system clock).
func NewRecorder(clock Clock) *Recorder {
	if clock == nil {
		clock = SystemClock{}
	}
	return &Recorder{
		clock:     clock,
		series:    map[string]*Series{},
		endpoints: map[[2]string]*EndpointSeries{},
		wake:      make(chan struct{}, 1),
	}
}

// Now is the recorder's clock.
func (r *Recorder) Now() time.Time { return r.clock.Now() }

// Series returns the metric's series, creating it if needed. Callers on a hot path keep the
// handle and call Record on it.
func (r *Recorder) Series(key MetricKey) (*Series, error) {
	id := key.String()
	r.mu.RLock()
	s := r.series[id]
	r.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s = r.series[id]; s != nil {
		return s, nil
	}
	if len(r.series) >= MaxSeries {
		return nil, fmt.Errorf("%w: this server keeps at most %d distinct metrics", ErrTooManySeries, MaxSeries)
	}
	s = newSeries(r, key)
	r.series[id] = s
	return s, nil
}

// mustSeries is Series for the data plane's own metrics, which are few and always admitted.
func (r *Recorder) mustSeries(key MetricKey) *Series {
	id := key.String()
	r.mu.RLock()
	s := r.series[id]
	r.mu.RUnlock()
	if s != nil {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s = r.series[id]; s == nil {
		s = newSeries(r, key)
		r.series[id] = s
	}
	return s
}

// lookup returns the series of key, or nil.
func (r *Recorder) lookup(key MetricKey) *Series {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.series[key.String()]
}

// Observe records value now for a metric in the AWS/SageMaker namespace. It looks the series up
// on every call; the data plane should prefer Endpoint, whose handles skip the lookup.
func (r *Recorder) Observe(metric string, dims []Dimension, value float64) {
	r.mustSeries(NewMetricKey(NamespaceSageMaker, metric, dims)).Record(value)
}

// Metrics lists the keys of the metrics that hold data or are watched, sorted.
func (r *Recorder) Metrics() []MetricKey {
	r.mu.RLock()
	out := make([]MetricKey, 0, len(r.series))
	ids := make([]string, 0, len(r.series))
	for id := range r.series {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		out = append(out, r.series[id].key)
	}
	r.mu.RUnlock()
	return out
}

// poke wakes the evaluator without blocking; many pokes before it runs coalesce into one.
func (r *Recorder) poke() {
	if r.pending.Load() || !r.pending.CompareAndSwap(false, true) {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// woken is the evaluator's side of poke: it receives when watched data arrived.
func (r *Recorder) woken() <-chan struct{} { return r.wake }

// rearm is called by the evaluator before it reads data, so data arriving during the read
// wakes it again.
func (r *Recorder) rearm() { r.pending.Store(false) }

// stripeCount spreads concurrent writers of one metric; a power of two.
const stripeCount = 8

// stripe accumulates the values of one second from a share of the writers. It is padded to its
// own cache lines so writers on different stripes do not contend.
type stripe struct {
	mu  sync.Mutex
	sec int64
	agg Aggregate
	_   [64]byte // 128 bytes in all: two cache lines
}

// Series is the data of one metric.
type Series struct {
	key MetricKey
	rec *Recorder

	stripes [stripeCount]stripe

	// mu guards the history tiers; a stripe lock, when held, is always taken first.
	mu    sync.Mutex
	tiers []tier
	unit  string

	// watched is set when an alarm evaluates this metric: its data then wakes the evaluator.
	watched atomic.Bool
	// negative is set once a negative value is recorded: Sum is then no longer known to only
	// grow within a period.
	negative atomic.Bool
}

func newSeries(r *Recorder, key MetricKey) *Series {
	s := &Series{key: key, rec: r, unit: defaultUnit(key)}
	for _, res := range Resolutions {
		s.tiers = append(s.tiers, tier{res: int64(res.Step / time.Second), keep: int64(res.Keep / time.Second)})
	}
	return s
}

func defaultUnit(k MetricKey) string {
	if k.Namespace == NamespaceSageMaker {
		switch k.MetricName {
		case MetricModelLatency, MetricOverheadLatency:
			return "Microseconds"
		}
	}
	return "None"
}

// Key identifies the series' metric.
func (s *Series) Key() MetricKey { return s.key }

// Record adds value at the recorder's current time.
func (s *Series) Record(value float64) { s.RecordAt(s.rec.clock.Now(), value) }

// RecordAt adds value at time t. NaN and infinities are dropped.
func (s *Series) RecordAt(t time.Time, value float64) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return
	}
	if value < 0 && !s.negative.Load() {
		s.negative.Store(true)
	}
	sec := t.Unix()
	st := &s.stripes[rand.Uint32()&(stripeCount-1)]
	st.mu.Lock()
	switch {
	case sec == st.sec:
		st.agg.add(value, 1)
	case sec > st.sec:
		if !st.agg.empty() {
			s.flush(st)
		}
		st.sec = sec
		st.agg.add(value, 1)
	default:
		// Late data for a second this stripe has moved past goes straight to the history.
		st.mu.Unlock()
		s.mu.Lock()
		for i := range s.tiers {
			s.tiers[i].addValue(sec, value, 1)
		}
		s.mu.Unlock()
		s.notify()
		return
	}
	st.mu.Unlock()
	s.notify()
}

// addAggregate merges a whole aggregate at t, for PutMetricData.
func (s *Series) addAggregate(t time.Time, a *Aggregate, unit string) {
	if a.Minimum < 0 {
		s.negative.Store(true)
	}
	sec := t.Unix()
	s.mu.Lock()
	if unit != "" {
		s.unit = unit
	}
	s.mergeLocked(sec, a)
	s.mu.Unlock()
	s.notify()
}

func (s *Series) notify() {
	if s.watched.Load() {
		s.rec.poke()
	}
}

// flush moves a stripe's finished second into the history. The caller holds st.mu.
func (s *Series) flush(st *stripe) {
	s.mu.Lock()
	s.mergeLocked(st.sec, &st.agg)
	s.mu.Unlock()
	st.agg.reset()
}

// mergeLocked adds a to every tier and drops what has aged out. Age is measured on the clock,
// not from the newest datapoint, so a timestamp in the future cannot shorten retention.
func (s *Series) mergeLocked(sec int64, a *Aggregate) {
	now := s.rec.clock.Now().Unix()
	for i := range s.tiers {
		s.tiers[i].merge(sec, a)
		s.tiers[i].prune(now)
	}
}

// Unit is the unit of the series' data: the last one given with PutMetricData, or the unit
// SageMaker uses for its own metrics.
func (s *Series) Unit() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unit
}

// Periods aggregates n consecutive periods of the given length starting at from (both in whole
// seconds); element i is nil when period i holds no data.
func (s *Series) Periods(from time.Time, period time.Duration, n int) []*Aggregate {
	return s.periods(from, period, n, true)
}

// periods is Periods, merging the quantile sketches only when withSketch.
func (s *Series) periods(from time.Time, period time.Duration, n int, withSketch bool) []*Aggregate {
	out := make([]*Aggregate, n)
	p := int64(period / time.Second)
	if p < 1 || n < 1 {
		return out
	}
	lo := from.Unix()
	hi := lo + p*int64(n)
	put := func(sec int64, a *Aggregate) {
		if sec < lo || sec >= hi || a.empty() {
			return
		}
		i := (sec - lo) / p
		if out[i] == nil {
			out[i] = &Aggregate{}
		}
		out[i].mergeStats(a, withSketch)
	}
	// A stripe's second that has ended moves into the history now; the second still open is
	// read in place.
	now := s.rec.clock.Now().Unix()
	for k := range s.stripes {
		st := &s.stripes[k]
		st.mu.Lock()
		if !st.agg.empty() {
			if st.sec < now {
				s.flush(st)
			} else {
				put(st.sec, &st.agg)
			}
		}
		st.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Every tier holds the same data at its own resolution, so read the coarsest one whose
	// buckets fit the periods and which still holds the start (fewest buckets to merge); failing
	// that, the coarsest that fits, which reaches furthest back.
	var t *tier
	for i := len(s.tiers) - 1; i >= 0; i-- {
		c := &s.tiers[i]
		if p%c.res != 0 || mod(lo, c.res) != 0 {
			continue
		}
		if t == nil || lo >= now-c.keep {
			t = c
		}
		if lo >= now-c.keep {
			break
		}
	}
	if t != nil {
		t.scan(lo, hi, put)
	}
	return out
}

// tier is a run of buckets of res seconds, sorted by start, kept for keep seconds after the
// newest data.
type tier struct {
	res, keep int64
	b         []bucket
	head      int
}

type bucket struct {
	start int64
	agg   Aggregate
}

// at returns the bucket holding second sec, creating it in order.
func (t *tier) at(sec int64) *Aggregate {
	start := sec - mod(sec, t.res)
	live := t.b[t.head:]
	n := len(live)
	if n > 0 && live[n-1].start == start {
		return &live[n-1].agg
	}
	if n == 0 || live[n-1].start < start {
		t.b = append(t.b, bucket{start: start})
		return &t.b[len(t.b)-1].agg
	}
	i, found := slices.BinarySearchFunc(live, start, func(b bucket, s int64) int {
		switch {
		case b.start < s:
			return -1
		case b.start > s:
			return 1
		}
		return 0
	})
	if !found {
		t.b = slices.Insert(t.b, t.head+i, bucket{start: start})
	}
	return &t.b[t.head+i].agg
}

func (t *tier) merge(sec int64, a *Aggregate) { t.at(sec).merge(a) }

func (t *tier) addValue(sec int64, v, n float64) { t.at(sec).add(v, n) }

// prune drops buckets that ended more than keep before now.
func (t *tier) prune(now int64) {
	cut := now - t.keep
	for t.head < len(t.b) && t.b[t.head].start+t.res <= cut {
		t.b[t.head] = bucket{}
		t.head++
	}
	if t.head > 64 && t.head > len(t.b)/2 {
		n := copy(t.b, t.b[t.head:])
		clear(t.b[n:])
		t.b = t.b[:n]
		t.head = 0
	}
}

// scan calls fn for every bucket starting in [lo, hi).
func (t *tier) scan(lo, hi int64, fn func(sec int64, a *Aggregate)) {
	live := t.b[t.head:]
	i, _ := slices.BinarySearchFunc(live, lo-mod(lo, t.res), func(b bucket, s int64) int {
		switch {
		case b.start < s:
			return -1
		case b.start > s:
			return 1
		}
		return 0
	})
	for ; i < len(live) && live[i].start < hi; i++ {
		fn(live[i].start, &live[i].agg)
	}
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
