package alarm

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// lookBack is how many periods beyond EvaluationPeriods an evaluation reads: CloudWatch's
// "evaluation range", which lets real datapoints from a little further back stand in for
// missing recent ones before TreatMissingData applies.
const lookBack = 2

// outcome is the result of evaluating an alarm at one moment.
type outcome struct {
	// retain is set when the rules keep the current state (ignore, or a thin percentile).
	retain bool
	state  StateValue
	// reason and data (the StateReasonData JSON document) are filled by describe, which only a
	// transition needs.
	reason string
	data   string

	d                                 *Definition
	st                                Statistic
	real, points                      []Datapoint
	now                               time.Time
	realBreach, n, m, filled, unknown int
	filledAs                          string
}

// evaluate is decide followed by describe.
func evaluate(d *Definition, st Statistic, points []Datapoint, now time.Time) outcome {
	o := decide(d, st, points, now)
	o.describe()
	return o
}

// describe words the outcome's reason and reason data.
func (o *outcome) describe() {
	if o.retain || o.d == nil {
		return
	}
	o.reason = reasonText(o.d, o.state, o.real, o.realBreach, o.n, o.m, o.filled, o.filledAs, o.unknown)
	o.data = reasonData(o.d, o.st, o.real, o.points, o.now)
}

// decide applies CloudWatch's rules to points, the evaluation range newest first.
//
// It takes the most recent EvaluationPeriods (N) real datapoints of the range. When fewer than N
// exist, the rest are filled by TreatMissingData: breaching and notBreaching count them as such;
// missing and ignore leave them unknown. Then, with M = DatapointsToAlarm and B breaching:
// ALARM if B ≥ M; OK if even counting every unknown as breaching stays below M; otherwise the
// outcome is undecided, which "missing" resolves to ALARM and "ignore" to no change. When every
// datapoint is unknown, "missing" gives INSUFFICIENT_DATA and "ignore" no change. These rules
// reproduce the table of CloudWatch's "How alarm state is evaluated when data is missing".
func decide(d *Definition, st Statistic, points []Datapoint, now time.Time) outcome {
	n, m := int(d.EvaluationPeriods), d.m()
	real := make([]Datapoint, 0, n)
	for _, p := range points {
		if p.Present {
			real = append(real, p)
			if len(real) == n {
				break
			}
		}
	}
	if d.EvaluateLowSampleCountPercentile == "ignore" && len(real) > 0 && st.lowSampleCount(real[0].SampleCount) {
		return outcome{retain: true}
	}
	breach := 0
	for _, p := range real {
		if d.ComparisonOperator.breaches(p.Value, d.Threshold) {
			breach++
		}
	}
	unknown := n - len(real)
	filled, filledAs := 0, ""
	switch d.missing() {
	case MissingDataBreaching:
		breach += unknown
		filled, filledAs, unknown = unknown, "Breaching", 0
	case MissingDataNotBreaching:
		filled, filledAs, unknown = unknown, "NonBreaching", 0
	}
	var state StateValue
	switch {
	case unknown == n:
		if d.missing() == MissingDataIgnore {
			return outcome{retain: true}
		}
		state = StateInsufficientData
	case breach >= m:
		state = StateAlarm
	case breach+unknown < m:
		state = StateOK
	case d.missing() == MissingDataIgnore:
		return outcome{retain: true}
	default:
		state = StateAlarm
	}
	return outcome{
		state: state, d: d, st: st, real: real, points: points, now: now,
		realBreach: breach - filledIfBreaching(filledAs, filled), n: n, m: m, filled: filled, unknown: unknown, filledAs: filledAs,
	}
}

func filledIfBreaching(as string, n int) int {
	if as == "Breaching" {
		return n
	}
	return 0
}

// reasonText words a state reason the way CloudWatch does, e.g. "Threshold Crossed: 2 out of
// the last 3 datapoints [5.0 (12/04/26 10:00:20), 4.0 (12/04/26 10:00:10)] were greater than the
// threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition)."
func reasonText(d *Definition, state StateValue, real []Datapoint, realBreach, n, m, filled int, filledAs string, unknown int) string {
	var b strings.Builder
	if state == StateInsufficientData {
		fmt.Fprintf(&b, "Insufficient Data: %s %s unknown.", plural(n, "datapoint"), wasWere(n))
		return b.String()
	}
	b.WriteString("Threshold Crossed: ")
	if len(real) == 0 {
		fmt.Fprintf(&b, "no datapoints were received for %s and %d missing %s treated as [%s].",
			plural(n, "period"), filled, wasWereNoun(filled, "datapoint"), filledAs)
		return b.String()
	}
	list := datapointList(real)
	phrase := d.ComparisonOperator.phrase()
	if state == StateAlarm {
		fmt.Fprintf(&b, "%d out of the last %s %s %s %s the threshold (%s) (minimum %s for OK -> ALARM transition).",
			realBreach, plural(len(real), "datapoint"), list, wasWere(max(realBreach, len(real))), phrase, javaFloat(d.Threshold), plural(m, "datapoint"))
		if unknown > 0 {
			// Too few datapoints to decide, which the missing treatment resolves to ALARM.
			s := strings.TrimSuffix(b.String(), ".")
			b.Reset()
			fmt.Fprintf(&b, "%s (%s %s unknown).", s, plural(unknown, "datapoint"), wasWere(unknown))
		}
	} else {
		fmt.Fprintf(&b, "%s %s %s not %s the threshold (%s) (minimum %s for ALARM -> OK transition).",
			plural(len(real), "datapoint"), list, wasWere(len(real)), phrase, javaFloat(d.Threshold), plural(1, "datapoint"))
	}
	if filled > 0 {
		s := b.String()
		b.Reset()
		b.WriteString(strings.TrimSuffix(s, "."))
		fmt.Fprintf(&b, " (%d missing %s treated as [%s]).", filled, wasWereNoun(filled, "datapoint"), filledAs)
	}
	return b.String()
}

func datapointList(real []Datapoint) string {
	parts := make([]string, len(real))
	for i, p := range real {
		parts[i] = fmt.Sprintf("%s (%s)", javaFloat(p.Value), p.Start.UTC().Format("02/01/06 15:04:05"))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

func wasWereNoun(n int, noun string) string {
	if n == 1 {
		return noun + " was"
	}
	return noun + "s were"
}

// javaFloat prints a number as CloudWatch's messages do (Java's Double.toString): "1.0", "0.25",
// "1.5E7".
func javaFloat(v float64) string {
	if a := math.Abs(v); a != 0 && (a >= 1e7 || a < 1e-3) {
		s := strconv.FormatFloat(v, 'E', -1, 64)
		mant, exp, _ := strings.Cut(s, "E")
		if !strings.Contains(mant, ".") {
			mant += ".0"
		}
		e, _ := strconv.Atoi(exp)
		return mant + "E" + strconv.Itoa(e)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// reasonTime is the timestamp format of StateReasonData.
const reasonTime = "2006-01-02T15:04:05.000-0700"

// reasonData builds the StateReasonData document of a threshold evaluation.
func reasonData(d *Definition, st Statistic, real, points []Datapoint, now time.Time) string {
	type evaluated struct {
		Timestamp   string  `json:"timestamp"`
		SampleCount float64 `json:"sampleCount"`
		Value       float64 `json:"value"`
	}
	doc := struct {
		Version             string      `json:"version"`
		QueryDate           string      `json:"queryDate"`
		StartDate           string      `json:"startDate,omitempty"`
		Statistic           string      `json:"statistic,omitempty"`
		ExtendedStatistic   string      `json:"extendedStatistic,omitempty"`
		Unit                string      `json:"unit,omitempty"`
		Period              int32       `json:"period"`
		RecentDatapoints    []float64   `json:"recentDatapoints"`
		Threshold           float64     `json:"threshold"`
		EvaluatedDatapoints []evaluated `json:"evaluatedDatapoints,omitempty"`
	}{
		Version:          "1.0",
		QueryDate:        now.UTC().Format(reasonTime),
		Unit:             d.Unit,
		Period:           d.Period,
		RecentDatapoints: []float64{},
		Threshold:        d.Threshold,
	}
	if st.Percentile() {
		doc.ExtendedStatistic = st.Name
	} else {
		doc.Statistic = st.Name
	}
	if len(points) > 0 {
		doc.StartDate = points[min(len(points), int(d.EvaluationPeriods))-1].Start.UTC().Format(reasonTime)
	}
	for i := len(real) - 1; i >= 0; i-- {
		doc.RecentDatapoints = append(doc.RecentDatapoints, real[i].Value)
	}
	for _, p := range real {
		doc.EvaluatedDatapoints = append(doc.EvaluatedDatapoints, evaluated{Timestamp: p.Start.UTC().Format(reasonTime), SampleCount: p.SampleCount, Value: p.Value})
	}
	b, _ := json.Marshal(doc)
	return string(b)
}
