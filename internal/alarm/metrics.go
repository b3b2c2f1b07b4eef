package alarm

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of PutMetricData and GetMetricStatistics, from CloudWatch.
const (
	maxData            = 1000
	maxValues          = 150
	maxDatapoints      = 1440
	maxValuePower      = 360
	maxPastTimestamp   = 14 * 24 * time.Hour
	maxFutureTimestamp = 2 * time.Hour
)

// StatisticSet is a pre-aggregated datum.
type StatisticSet struct {
	SampleCount, Sum, Minimum, Maximum float64
}

// Datum is one entry of PutMetricData: a single Value, a list of Values with optional Counts,
// or a StatisticSet.
type Datum struct {
	MetricName string
	Dimensions []Dimension
	// Timestamp zero means now.
	Timestamp         time.Time
	Value             *float64
	Values            []float64
	Counts            []float64
	StatisticValues   *StatisticSet
	Unit              string
	StorageResolution int32
}

// PutMetricData records custom metric data. Namespaces starting with "AWS/" are reserved for the
// metrics Sluice itself publishes and are refused, as in CloudWatch. Every datum is checked
// before any is recorded.
func (s *Service) PutMetricData(namespace string, data []Datum) error {
	if namespace == "" {
		return errorf(ErrMissing, "The parameter Namespace is required.")
	}
	if err := checkNamespace(namespace); err != nil {
		return err
	}
	if strings.HasPrefix(namespace, "AWS/") {
		return errorf(ErrInvalid, "The value %s for parameter Namespace is invalid: namespaces starting with AWS/ are reserved for metrics the server publishes.", namespace)
	}
	if len(data) == 0 {
		return errorf(ErrMissing, "The parameter MetricData is required.")
	}
	if len(data) > maxData {
		return errorf(ErrInvalid, "%d metric data given; at most %d are accepted per request.", len(data), maxData)
	}
	now := s.clock.Now()
	aggs := make([]Aggregate, len(data))
	series := make([]*Series, len(data))
	for i := range data {
		d := &data[i]
		at := func(field string) string { return "MetricData.member." + itoa(i+1) + "." + field }
		if d.MetricName == "" {
			return errorf(ErrMissing, "The parameter %s is required.", at("MetricName"))
		}
		if err := checkName(at("MetricName"), d.MetricName, 255); err != nil {
			return err
		}
		if err := checkDimensions(d.Dimensions); err != nil {
			return errorf(ErrInvalid, "%s: %s", at("Dimensions"), err.Error())
		}
		if d.Unit != "" && !slices.Contains(Units, d.Unit) {
			return errorf(ErrInvalid, "The value %s for parameter %s is not a CloudWatch unit.", d.Unit, at("Unit"))
		}
		if r := d.StorageResolution; r != 0 && r != 1 && r != 60 {
			return errorf(ErrInvalid, "The value %d for parameter %s is invalid: expected 1 or 60.", r, at("StorageResolution"))
		}
		if d.Timestamp.IsZero() {
			d.Timestamp = now
		}
		if now.Sub(d.Timestamp) > maxPastTimestamp {
			return errorf(ErrInvalid, "The parameter %s must specify a time no more than two weeks in the past.", at("Timestamp"))
		}
		if d.Timestamp.Sub(now) > maxFutureTimestamp {
			return errorf(ErrInvalid, "The parameter %s must specify a time no more than two hours in the future.", at("Timestamp"))
		}
		given := 0
		for _, b := range []bool{d.Value != nil, len(d.Values) > 0, d.StatisticValues != nil} {
			if b {
				given++
			}
		}
		switch {
		case given == 0:
			return errorf(ErrMissing, "One of %s, %s or %s must be specified.", at("Value"), at("Values"), at("StatisticValues"))
		case given > 1:
			return errorf(ErrCombination, "Only one of %s, %s and %s can be specified.", at("Value"), at("Values"), at("StatisticValues"))
		case len(d.Counts) > 0 && len(d.Values) == 0:
			return errorf(ErrCombination, "%s requires %s.", at("Counts"), at("Values"))
		}
		a := &aggs[i]
		switch {
		case d.Value != nil:
			if err := checkValue(at("Value"), *d.Value); err != nil {
				return err
			}
			a.add(*d.Value, 1)
		case len(d.Values) > 0:
			if len(d.Values) > maxValues {
				return errorf(ErrInvalid, "%s holds %d values; at most %d are accepted.", at("Values"), len(d.Values), maxValues)
			}
			if len(d.Counts) > 0 && len(d.Counts) != len(d.Values) {
				return errorf(ErrCombination, "%s has %d entries but %s has %d; they must be the same length.", at("Counts"), len(d.Counts), at("Values"), len(d.Values))
			}
			for k, v := range d.Values {
				if err := checkValue(at("Values.member."+itoa(k+1)), v); err != nil {
					return err
				}
				n := 1.0
				if len(d.Counts) > 0 {
					n = d.Counts[k]
					if math.IsNaN(n) || n < 0 || math.IsInf(n, 0) {
						return errorf(ErrInvalid, "The value %v for parameter %s is invalid: counts must be non-negative.", n, at("Counts.member."+itoa(k+1)))
					}
				}
				if n > 0 {
					a.add(v, n)
				}
			}
		default:
			ss := d.StatisticValues
			for _, f := range []struct {
				name string
				v    float64
			}{{"SampleCount", ss.SampleCount}, {"Sum", ss.Sum}, {"Minimum", ss.Minimum}, {"Maximum", ss.Maximum}} {
				if err := checkValue(at("StatisticValues."+f.name), f.v); err != nil {
					return err
				}
			}
			if ss.SampleCount <= 0 {
				return errorf(ErrInvalid, "The parameter %s must be greater than 0.", at("StatisticValues.SampleCount"))
			}
			if ss.Minimum > ss.Maximum {
				return errorf(ErrInvalid, "The parameter %s must not be greater than %s.", at("StatisticValues.Minimum"), at("StatisticValues.Maximum"))
			}
			a.addSet(ss.SampleCount, ss.Sum, ss.Minimum, ss.Maximum)
		}
		sr, err := s.rec.Series(NewMetricKey(namespace, d.MetricName, d.Dimensions))
		if err != nil {
			return errorf(ErrLimit, "%v", err)
		}
		series[i] = sr
	}
	for i := range data {
		if !aggs[i].empty() {
			series[i].addAggregate(data[i].Timestamp, &aggs[i], data[i].Unit)
		}
	}
	return nil
}

func checkValue(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > math.Ldexp(1, maxValuePower) {
		return errorf(ErrInvalid, "The value %v for parameter %s is invalid: values must be finite and between -2^360 and 2^360.", v, field)
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// StatisticsQuery is a GetMetricStatistics request.
type StatisticsQuery struct {
	Namespace  string
	MetricName string
	Dimensions []Dimension
	Start, End time.Time
	// Period is in seconds; any whole number from 1 is accepted.
	Period int32
	// Statistics are standard statistics; ExtendedStatistics percentiles. Exactly one of the
	// two lists is given.
	Statistics         []string
	ExtendedStatistics []string
	Unit               string
}

// StatisticsRow is one period of a GetMetricStatistics answer.
type StatisticsRow struct {
	Timestamp time.Time
	// Values maps each requested statistic present in the period to its value.
	Values map[string]float64
	Unit   string
}

// Statistics answers GetMetricStatistics: one row per period of [Start, End) that holds data,
// oldest first. Periods are aligned to multiples of Period since the Unix epoch.
func (s *Service) Statistics(q StatisticsQuery) ([]StatisticsRow, error) {
	switch {
	case q.Namespace == "":
		return nil, errorf(ErrMissing, "The parameter Namespace is required.")
	case q.MetricName == "":
		return nil, errorf(ErrMissing, "The parameter MetricName is required.")
	case q.Start.IsZero():
		return nil, errorf(ErrMissing, "The parameter StartTime is required.")
	case q.End.IsZero():
		return nil, errorf(ErrMissing, "The parameter EndTime is required.")
	case q.Period == 0:
		return nil, errorf(ErrMissing, "The parameter Period is required.")
	case q.Period < 0:
		return nil, errorf(ErrInvalid, "The parameter Period must be at least 1 second.")
	case !q.Start.Before(q.End):
		return nil, errorf(ErrInvalid, "The parameter StartTime must be less than the parameter EndTime.")
	case len(q.Statistics) == 0 && len(q.ExtendedStatistics) == 0:
		return nil, errorf(ErrMissing, "The parameter Statistics or ExtendedStatistics must be specified.")
	case len(q.Statistics) > 0 && len(q.ExtendedStatistics) > 0:
		return nil, errorf(ErrCombination, "The parameters Statistics and ExtendedStatistics are mutually exclusive; request percentiles in a separate call.")
	case len(q.Statistics) > 5:
		return nil, errorf(ErrInvalid, "%d Statistics given; at most 5 are accepted.", len(q.Statistics))
	case len(q.ExtendedStatistics) > 10:
		return nil, errorf(ErrInvalid, "%d ExtendedStatistics given; at most 10 are accepted.", len(q.ExtendedStatistics))
	case q.Unit != "" && !slices.Contains(Units, q.Unit):
		return nil, errorf(ErrInvalid, "The value %s for parameter Unit is not a CloudWatch unit.", q.Unit)
	}
	if err := checkDimensions(q.Dimensions); err != nil {
		return nil, err
	}
	var stats []Statistic
	for _, n := range q.Statistics {
		if !slices.Contains(StandardStatistics, n) {
			return nil, errorf(ErrInvalid, "The value %s for parameter Statistics is not valid: expected %s.", n, strings.Join(StandardStatistics, ", "))
		}
		st, _ := ParseStatistic(n)
		stats = append(stats, st)
	}
	for _, n := range q.ExtendedStatistics {
		st, err := ParseExtendedStatistic(n)
		if err != nil {
			return nil, errorf(ErrInvalid, "The value %s for parameter ExtendedStatistics is not valid: %v.", n, err)
		}
		stats = append(stats, st)
	}
	p := time.Duration(q.Period) * time.Second
	from := periodStart(q.Start, p)
	n := int((q.End.Sub(from) + p - 1) / p)
	if n > maxDatapoints {
		return nil, errorf(ErrCombination, "You have requested up to %d datapoints, which exceeds the limit of %d. You may reduce the datapoints requested by increasing Period, or decreasing the time range.", n, maxDatapoints)
	}
	key := NewMetricKey(q.Namespace, q.MetricName, q.Dimensions)
	src := s.rec.existingSource(key)
	if src == nil {
		return nil, nil
	}
	unit := src.unit()
	if q.Unit != "" && q.Unit != unit {
		return nil, nil
	}
	rows := make([]StatisticsRow, n)
	for _, st := range stats {
		for i, dp := range src.datapoints(st, from, p, n) {
			if !dp.Present {
				continue
			}
			if rows[i].Values == nil {
				rows[i] = StatisticsRow{Timestamp: dp.Start.UTC(), Values: map[string]float64{}, Unit: unit}
			}
			rows[i].Values[st.Name] = dp.Value
		}
	}
	out := rows[:0]
	for _, r := range rows {
		if r.Values != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// existingSource is source for queries: it creates nothing, and returns nil when no data was
// ever recorded or watched for the metric.
func (r *Recorder) existingSource(key MetricKey) source {
	if key.Namespace == NamespaceSageMaker && (key.MetricName == MetricInvocation4XXErrorRate || key.MetricName == MetricInvocation5XXErrorRate) {
		den := r.lookup(MetricKey{Namespace: key.Namespace, MetricName: MetricInvocations, Dimensions: key.Dimensions})
		if den == nil {
			return nil
		}
		src, _ := r.source(key)
		return src
	}
	s := r.lookup(key)
	if s == nil {
		return nil
	}
	return seriesSource{s}
}
