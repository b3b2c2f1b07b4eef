// Package alarm holds metric data and the alarms that watch it. The Recorder is an in-memory
// time-series store that the data plane records every invocation into (Invocations, 4XX/5XX
// errors, ModelLatency, OverheadLatency, per endpoint variant) and that PutMetricData feeds
// custom metrics into. A Service keeps CloudWatch-style metric alarms in the store — definition,
// current state and history — and evaluates them promptly: whenever a watched metric receives
// data and at every period boundary, not once a minute. Deployments subscribe with Watch and
// learn of a state change within milliseconds.
//
// Evaluation follows CloudWatch's documented rules: M out of N datapoints (DatapointsToAlarm of
// EvaluationPeriods), an evaluation range that looks back past missing periods, and
// TreatMissingData (missing, ignore, breaching, notBreaching). Sluice departs in one way, to be
// prompt: a period whose final value is already certain to breach (a Sum, SampleCount or Maximum
// that has crossed a "greater than" threshold, a Minimum that has crossed a "less than" one)
// counts as soon as it crosses, instead of when the period ends.
package alarm

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
)

// Errors callers branch on; the *Error values the package returns wrap one of them and carry a
// message a person can act on.
var (
	ErrNotFound = errors.New("alarm: not found")
	// ErrInvalid is a request with a bad value.
	ErrInvalid = errors.New("alarm: invalid value")
	// ErrMissing is a request without a required parameter.
	ErrMissing = errors.New("alarm: missing parameter")
	// ErrCombination is a request whose parameters cannot go together.
	ErrCombination = errors.New("alarm: invalid combination")
	// ErrLimit is a request beyond a limit.
	ErrLimit = errors.New("alarm: limit exceeded")
	// ErrFormat is a malformed document, such as StateReasonData that is not JSON.
	ErrFormat = errors.New("alarm: invalid format")
	// ErrNextToken is a pagination token this server did not issue for the same list.
	ErrNextToken = errors.New("alarm: invalid next token")
)

// Error is an alarm error with a client-facing message; errors.Is matches its Kind.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel kind.
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// StateValue is an alarm's state.
type StateValue string

// Alarm states.
const (
	StateOK               StateValue = "OK"
	StateAlarm            StateValue = "ALARM"
	StateInsufficientData StateValue = "INSUFFICIENT_DATA"
)

// ParseState checks a state name.
func ParseState(s string) (StateValue, error) {
	switch v := StateValue(s); v {
	case StateOK, StateAlarm, StateInsufficientData:
		return v, nil
	}
	return "", errorf(ErrInvalid, "State value %q is not valid: expected OK, ALARM or INSUFFICIENT_DATA.", s)
}

// Comparison is how a datapoint is compared with the threshold.
type Comparison string

// Comparison operators of threshold alarms.
const (
	GreaterThanThreshold          Comparison = "GreaterThanThreshold"
	GreaterThanOrEqualToThreshold Comparison = "GreaterThanOrEqualToThreshold"
	LessThanThreshold             Comparison = "LessThanThreshold"
	LessThanOrEqualToThreshold    Comparison = "LessThanOrEqualToThreshold"
)

// anomalyComparisons need an anomaly detection band, which Sluice does not build.
var anomalyComparisons = []string{"LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold"}

func (c Comparison) breaches(v, threshold float64) bool {
	switch c {
	case GreaterThanThreshold:
		return v > threshold
	case GreaterThanOrEqualToThreshold:
		return v >= threshold
	case LessThanThreshold:
		return v < threshold
	case LessThanOrEqualToThreshold:
		return v <= threshold
	}
	return false
}

// phrase is how CloudWatch's state reasons word the comparison.
func (c Comparison) phrase() string {
	switch c {
	case GreaterThanThreshold:
		return "greater than"
	case GreaterThanOrEqualToThreshold:
		return "greater than or equal to"
	case LessThanThreshold:
		return "less than"
	case LessThanOrEqualToThreshold:
		return "less than or equal to"
	}
	return string(c)
}

// MissingData is TreatMissingData.
type MissingData string

// How missing datapoints are treated.
const (
	MissingDataMissing      MissingData = "missing"
	MissingDataIgnore       MissingData = "ignore"
	MissingDataBreaching    MissingData = "breaching"
	MissingDataNotBreaching MissingData = "notBreaching"
)

// Tag is a key/value pair attached to an alarm.
type Tag struct {
	Key   string
	Value string
}

// Definition is a metric alarm as PutMetricAlarm sets it. Optional members keep their zero
// value when not given, so Describe reports them as the client set them.
type Definition struct {
	AlarmName        string
	AlarmDescription string `json:",omitempty"`
	// ActionsEnabled defaults to true. Actions are stored and reported but not executed: Sluice
	// has no SNS, Auto Scaling or EC2 to act on; deployments react through Service.Watch.
	ActionsEnabled          bool
	OKActions               []string `json:",omitempty"`
	AlarmActions            []string `json:",omitempty"`
	InsufficientDataActions []string `json:",omitempty"`

	Namespace  string
	MetricName string
	Dimensions []Dimension `json:",omitempty"`
	// Statistic or ExtendedStatistic: exactly one is set.
	Statistic         string `json:",omitempty"`
	ExtendedStatistic string `json:",omitempty"`
	// Period is in seconds; any whole number of seconds from 1 is accepted.
	Period int32
	Unit   string `json:",omitempty"`

	EvaluationPeriods int32
	// DatapointsToAlarm is M of "M out of N"; zero means EvaluationPeriods.
	DatapointsToAlarm  int32 `json:",omitempty"`
	Threshold          float64
	ComparisonOperator Comparison
	// TreatMissingData is empty when not given, which means missing.
	TreatMissingData                 MissingData `json:",omitempty"`
	EvaluateLowSampleCountPercentile string      `json:",omitempty"`
	Tags                             []Tag       `json:",omitempty"`
}

// Limits of alarm definitions, from CloudWatch's model.
const (
	maxAlarmName   = 255
	maxDescription = 1024
	maxActions     = 5
	maxDimensions  = 30
	// maxEvaluationSeconds bounds Period × EvaluationPeriods, as CloudWatch does (one day).
	maxEvaluationSeconds = 24 * 60 * 60
)

// Validate checks the definition: it is what PutMetricAlarm refuses. Dimensions keep the
// client's order; the metric they name does not depend on it.
func (d *Definition) Validate() error {
	if d.AlarmName == "" {
		return errorf(ErrMissing, "The parameter AlarmName is required.")
	}
	if err := checkName("AlarmName", d.AlarmName, maxAlarmName); err != nil {
		return err
	}
	if len([]rune(d.AlarmDescription)) > maxDescription {
		return errorf(ErrInvalid, "AlarmDescription is %d characters long; at most %d are allowed.", len([]rune(d.AlarmDescription)), maxDescription)
	}
	for _, l := range []struct {
		name string
		v    []string
	}{{"OKActions", d.OKActions}, {"AlarmActions", d.AlarmActions}, {"InsufficientDataActions", d.InsufficientDataActions}} {
		if len(l.v) > maxActions {
			return errorf(ErrInvalid, "%s lists %d actions; at most %d are allowed.", l.name, len(l.v), maxActions)
		}
		for _, a := range l.v {
			if a == "" || len(a) > 1024 {
				return errorf(ErrInvalid, "%s: an action must be 1 to 1024 characters long.", l.name)
			}
		}
	}
	if d.Namespace == "" {
		return errorf(ErrMissing, "The parameter Namespace is required (e.g. AWS/SageMaker).")
	}
	if err := checkNamespace(d.Namespace); err != nil {
		return err
	}
	if d.MetricName == "" {
		return errorf(ErrMissing, "The parameter MetricName is required (e.g. Invocation5XXErrors).")
	}
	if err := checkName("MetricName", d.MetricName, 255); err != nil {
		return err
	}
	if err := checkDimensions(d.Dimensions); err != nil {
		return err
	}
	switch {
	case d.Statistic == "" && d.ExtendedStatistic == "":
		return errorf(ErrMissing, "Either Statistic (SampleCount, Average, Sum, Minimum, Maximum) or ExtendedStatistic (a percentile such as p99) must be specified.")
	case d.Statistic != "" && d.ExtendedStatistic != "":
		return errorf(ErrCombination, "Statistic (%s) and ExtendedStatistic (%s) cannot both be specified; choose one.", d.Statistic, d.ExtendedStatistic)
	case d.Statistic != "":
		if !oneOf(d.Statistic, StandardStatistics...) {
			return errorf(ErrInvalid, "Statistic %q is not valid: expected one of %s (use ExtendedStatistic for percentiles such as p99).", d.Statistic, strings.Join(StandardStatistics, ", "))
		}
	default:
		if _, err := ParseExtendedStatistic(d.ExtendedStatistic); err != nil {
			return errorf(ErrInvalid, "ExtendedStatistic %q is not valid: %v.", d.ExtendedStatistic, strings.TrimPrefix(err.Error(), "percentile "))
		}
	}
	if d.Period < 1 {
		if d.Period == 0 {
			return errorf(ErrMissing, "The parameter Period is required: the length of a period in seconds (any whole number from 1; 10, 30 and 60 are usual).")
		}
		return errorf(ErrInvalid, "Period %d is not valid: it must be at least 1 second.", d.Period)
	}
	if d.Unit != "" && !oneOf(d.Unit, Units...) {
		return errorf(ErrInvalid, "Unit %q is not a CloudWatch unit (e.g. Count, Microseconds, Percent, None).", d.Unit)
	}
	if d.EvaluationPeriods < 1 {
		return errorf(ErrInvalid, "EvaluationPeriods %d is not valid: it must be at least 1.", d.EvaluationPeriods)
	}
	if d.DatapointsToAlarm < 0 || d.DatapointsToAlarm > d.EvaluationPeriods {
		return errorf(ErrInvalid, "DatapointsToAlarm %d is not valid: it must be from 1 to EvaluationPeriods (%d).", d.DatapointsToAlarm, d.EvaluationPeriods)
	}
	total := int64(d.Period) * int64(d.EvaluationPeriods)
	if total > maxEvaluationSeconds {
		return errorf(ErrInvalid, "Period × EvaluationPeriods is %d seconds; it must not exceed one day (86400 seconds).", total)
	}
	if reach := Reach(time.Duration(d.Period) * time.Second); time.Duration(total)*time.Second > reach {
		return errorf(ErrInvalid, "Period × EvaluationPeriods is %d seconds, but data for %d-second periods is kept for %s; shorten the window, or use a Period that is a multiple of 10 seconds (kept 3 hours) or of 60 (kept a day).", total, d.Period, reach)
	}
	if math.IsNaN(d.Threshold) || math.IsInf(d.Threshold, 0) {
		return errorf(ErrInvalid, "Threshold must be a finite number.")
	}
	switch c := string(d.ComparisonOperator); {
	case c == "":
		return errorf(ErrMissing, "The parameter ComparisonOperator is required: GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold or LessThanOrEqualToThreshold.")
	case oneOf(c, anomalyComparisons...):
		return errorf(ErrInvalid, "ComparisonOperator %s compares with an anomaly detection band, which this server does not support; use GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold or LessThanOrEqualToThreshold with a fixed Threshold.", c)
	case !oneOf(c, string(GreaterThanThreshold), string(GreaterThanOrEqualToThreshold), string(LessThanThreshold), string(LessThanOrEqualToThreshold)):
		return errorf(ErrInvalid, "ComparisonOperator %q is not valid: expected GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold or LessThanOrEqualToThreshold.", c)
	}
	if t := d.TreatMissingData; t != "" && !oneOf(string(t), string(MissingDataMissing), string(MissingDataIgnore), string(MissingDataBreaching), string(MissingDataNotBreaching)) {
		return errorf(ErrInvalid, "TreatMissingData %q is not valid: expected missing, ignore, breaching or notBreaching.", t)
	}
	if e := d.EvaluateLowSampleCountPercentile; e != "" {
		if d.ExtendedStatistic == "" {
			return errorf(ErrCombination, "EvaluateLowSampleCountPercentile applies only to alarms on a percentile (ExtendedStatistic).")
		}
		if e != "evaluate" && e != "ignore" {
			return errorf(ErrInvalid, "EvaluateLowSampleCountPercentile %q is not valid: expected evaluate or ignore.", e)
		}
	}
	for _, t := range d.Tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return errorf(ErrInvalid, "Tag %q: keys must be 1 to 128 characters and values at most 256.", t.Key)
		}
	}
	return nil
}

// statistic is the parsed Statistic or ExtendedStatistic of a valid definition.
func (d *Definition) statistic() Statistic {
	name := d.Statistic
	if name == "" {
		name = d.ExtendedStatistic
	}
	st, _ := ParseStatistic(name)
	return st
}

// m is DatapointsToAlarm with its default.
func (d *Definition) m() int {
	if d.DatapointsToAlarm > 0 {
		return int(d.DatapointsToAlarm)
	}
	return int(d.EvaluationPeriods)
}

// missing is TreatMissingData with its default.
func (d *Definition) missing() MissingData {
	if d.TreatMissingData == "" {
		return MissingDataMissing
	}
	return d.TreatMissingData
}

// Key is the metric the alarm watches.
func (d *Definition) Key() MetricKey {
	return NewMetricKey(d.Namespace, d.MetricName, d.Dimensions)
}

func checkName(field, v string, max int) error {
	if n := len([]rune(v)); n < 1 || n > max {
		return errorf(ErrInvalid, "%s must be 1 to %d characters long; %q is %d.", field, max, v, n)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return errorf(ErrInvalid, "%s %q contains a control character.", field, v)
		}
	}
	return nil
}

func checkNamespace(ns string) error {
	if err := checkName("Namespace", ns, 255); err != nil {
		return err
	}
	if strings.HasPrefix(ns, ":") {
		return errorf(ErrInvalid, "Namespace %q must not start with a colon.", ns)
	}
	return nil
}

func checkDimensions(dims []Dimension) error {
	if len(dims) > maxDimensions {
		return errorf(ErrInvalid, "%d dimensions given; at most %d are allowed.", len(dims), maxDimensions)
	}
	seen := map[string]bool{}
	for _, dm := range dims {
		if err := checkName("Dimension name", dm.Name, 255); err != nil {
			return err
		}
		if err := checkName("Dimension value", dm.Value, 1024); err != nil {
			return err
		}
		if seen[dm.Name] {
			return errorf(ErrInvalid, "Dimension %q is given twice.", dm.Name)
		}
		seen[dm.Name] = true
	}
	return nil
}

func oneOf(s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

// Units are CloudWatch's standard units.
var Units = []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
	"Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
	"Gigabits/Second", "Terabits/Second", "Count/Second", "None"}

// State is an alarm's current state.
type State struct {
	Value  StateValue
	Reason string
	// ReasonData is a JSON document, as in CloudWatch's StateReasonData; empty when none.
	ReasonData string
	// Updated is when the state was last set; Transitioned when its value last changed.
	Updated      time.Time
	Transitioned time.Time
}

// Alarm is a stored metric alarm: its definition and current state.
type Alarm struct {
	Definition
	ARN string
	// ConfigurationUpdated is when the definition was last put.
	ConfigurationUpdated time.Time
	State                State
}

// HistoryItemType is the kind of a history entry.
type HistoryItemType string

// History entry kinds.
const (
	HistoryStateUpdate         HistoryItemType = "StateUpdate"
	HistoryConfigurationUpdate HistoryItemType = "ConfigurationUpdate"
	HistoryAction              HistoryItemType = "Action"
)

// HistoryItem is one entry of an alarm's history.
type HistoryItem struct {
	AlarmName       string
	AlarmType       string
	Timestamp       time.Time
	HistoryItemType HistoryItemType
	HistorySummary  string
	// HistoryData is a JSON document.
	HistoryData string
}

// StateChange announces a transition to subscribers of Watch.
type StateChange struct {
	AlarmName string
	AlarmARN  string
	// Old is empty in the first message of a subscription, which reports the current state.
	Old        StateValue
	New        StateValue
	Reason     string
	ReasonData string
	Time       time.Time
	// Deleted is set when the alarm was deleted; New is then empty.
	Deleted bool
}
