package cloudwatch

import (
	"context"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/sluice-ml/sluice/internal/alarm"
)

type statisticSet struct {
	SampleCount *float64
	Sum         *float64
	Minimum     *float64
	Maximum     *float64
}

type metricDatum struct {
	MetricName        string
	Dimensions        []dimension
	Timestamp         *time.Time
	Value             *float64
	StatisticValues   *statisticSet
	Values            []float64
	Counts            []float64
	Unit              string
	StorageResolution *int32
}

type putMetricDataInput struct {
	Namespace  string
	MetricData []metricDatum
}

func (a *API) putMetricData(ctx context.Context, in *putMetricDataInput) (*struct{}, error) {
	data := make([]alarm.Datum, len(in.MetricData))
	for i, m := range in.MetricData {
		d := alarm.Datum{MetricName: m.MetricName, Dimensions: toDims(m.Dimensions), Value: m.Value, Values: m.Values, Counts: m.Counts, Unit: m.Unit}
		if m.Timestamp != nil {
			d.Timestamp = *m.Timestamp
		}
		if m.StorageResolution != nil {
			d.StorageResolution = *m.StorageResolution
		}
		if s := m.StatisticValues; s != nil {
			if s.SampleCount == nil || s.Sum == nil || s.Minimum == nil || s.Maximum == nil {
				return nil, invalid(codeMissingParameter, "MetricData.member.%d.StatisticValues needs SampleCount, Sum, Minimum and Maximum.", i+1)
			}
			d.StatisticValues = &alarm.StatisticSet{SampleCount: *s.SampleCount, Sum: *s.Sum, Minimum: *s.Minimum, Maximum: *s.Maximum}
		}
		data[i] = d
	}
	return nil, wireError(a.Alarms.PutMetricData(in.Namespace, data), codeInvalidParameter)
}

type getMetricStatisticsInput struct {
	Namespace          string
	MetricName         string
	Dimensions         []dimension
	StartTime          *time.Time
	EndTime            *time.Time
	Period             *int32
	Statistics         []string
	ExtendedStatistics []string
	Unit               string
}

type datapoint struct {
	Timestamp          time.Time
	SampleCount        *float64
	Average            *float64
	Sum                *float64
	Minimum            *float64
	Maximum            *float64
	Unit               string
	ExtendedStatistics map[string]float64
}

type getMetricStatisticsOutput struct {
	Label      string
	Datapoints []datapoint
}

func (a *API) getMetricStatistics(ctx context.Context, in *getMetricStatisticsInput) (*getMetricStatisticsOutput, error) {
	q := alarm.StatisticsQuery{Namespace: in.Namespace, MetricName: in.MetricName, Dimensions: toDims(in.Dimensions),
		Statistics: in.Statistics, ExtendedStatistics: in.ExtendedStatistics, Unit: in.Unit}
	if in.StartTime != nil {
		q.Start = *in.StartTime
	}
	if in.EndTime != nil {
		q.End = *in.EndTime
	}
	if in.Period != nil {
		q.Period = *in.Period
		if q.Period == 0 {
			return nil, invalid(codeInvalidParameter, "The parameter Period must be at least 1 second.")
		}
	}
	rows, err := a.Alarms.Statistics(q)
	if err != nil {
		return nil, wireError(err, codeInvalidParameter)
	}
	out := &getMetricStatisticsOutput{Label: in.MetricName, Datapoints: []datapoint{}}
	for _, r := range rows {
		dp := datapoint{Timestamp: r.Timestamp, Unit: r.Unit}
		for name, v := range r.Values {
			v := v
			switch name {
			case alarm.SampleCount:
				dp.SampleCount = &v
			case alarm.Average:
				dp.Average = &v
			case alarm.Sum:
				dp.Sum = &v
			case alarm.Minimum:
				dp.Minimum = &v
			case alarm.Maximum:
				dp.Maximum = &v
			default:
				if dp.ExtendedStatistics == nil {
					dp.ExtendedStatistics = map[string]float64{}
				}
				dp.ExtendedStatistics[name] = v
			}
		}
		out.Datapoints = append(out.Datapoints, dp)
	}
	return out, nil
}

type dimensionFilter struct {
	Name  string
	Value *string
}

type listMetricsInput struct {
	Namespace  string
	MetricName string
	Dimensions []dimensionFilter
	NextToken  string
}

type metric struct {
	Namespace  string
	MetricName string
	Dimensions []dimension
}

type listMetricsOutput struct {
	Metrics   []metric
	NextToken string
}

// listMetricsPage is CloudWatch's page size for ListMetrics.
const listMetricsPage = 500

func (a *API) listMetrics(ctx context.Context, in *listMetricsInput) (*listMetricsOutput, error) {
	skip := 0
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			return nil, invalid(codeInvalidNextToken, "NextToken is not valid; start again without it.")
		}
		skip = n
	}
	out := &listMetricsOutput{Metrics: []metric{}}
	seen := 0
	for _, k := range a.Alarms.Recorder().Metrics() {
		if in.Namespace != "" && k.Namespace != in.Namespace || in.MetricName != "" && k.MetricName != in.MetricName || !matchDims(k.Dimensions, in.Dimensions) {
			continue
		}
		seen++
		if seen <= skip {
			continue
		}
		if len(out.Metrics) == listMetricsPage {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(skip + listMetricsPage)))
			break
		}
		out.Metrics = append(out.Metrics, metric{Namespace: k.Namespace, MetricName: k.MetricName, Dimensions: fromDims(k.Dimensions)})
	}
	return out, nil
}

// matchDims reports whether a metric has every filtered dimension (with the value, when given).
func matchDims(have []alarm.Dimension, filter []dimensionFilter) bool {
	for _, f := range filter {
		found := false
		for _, d := range have {
			if d.Name == f.Name && (f.Value == nil || *f.Value == d.Value) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
