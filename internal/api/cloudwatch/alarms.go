package cloudwatch

import (
	"context"
	"slices"
	"time"

	"github.com/sluice-ml/sluice/internal/alarm"
)

type tag struct {
	Key   string
	Value string
}

// metricDataQuery is read only to refuse metric-math alarms with a clear message.
type metricDataQuery struct {
	Id         string
	Expression string
}

type putMetricAlarmInput struct {
	AlarmName                        string
	AlarmDescription                 string
	ActionsEnabled                   *bool
	OKActions                        []string
	AlarmActions                     []string
	InsufficientDataActions          []string
	MetricName                       string
	Namespace                        string
	Statistic                        string
	ExtendedStatistic                string
	Dimensions                       []dimension
	Period                           *int32
	Unit                             string
	EvaluationPeriods                *int32
	DatapointsToAlarm                *int32
	Threshold                        *float64
	ComparisonOperator               string
	TreatMissingData                 string
	EvaluateLowSampleCountPercentile string
	Metrics                          []metricDataQuery
	Tags                             []tag
	ThresholdMetricId                string
}

func (a *API) putMetricAlarm(ctx context.Context, in *putMetricAlarmInput) (*struct{}, error) {
	if len(in.Metrics) > 0 {
		return nil, invalid(codeValidation, "Metrics (metric math) is not supported by this server: alarm on a single metric with MetricName, Namespace and Dimensions. For error rates use the derived metrics Invocation5XXErrorRate and Invocation4XXErrorRate in AWS/SageMaker, or the Average of Invocation5XXErrors.")
	}
	if in.ThresholdMetricId != "" {
		return nil, invalid(codeValidation, "ThresholdMetricId (anomaly detection bands) is not supported by this server; set a fixed Threshold.")
	}
	if in.EvaluationPeriods == nil {
		return nil, invalid(codeMissingParameter, "The parameter EvaluationPeriods is required.")
	}
	if in.Threshold == nil {
		return nil, invalid(codeMissingParameter, "The parameter Threshold is required.")
	}
	d := alarm.Definition{
		AlarmName:                        in.AlarmName,
		AlarmDescription:                 in.AlarmDescription,
		ActionsEnabled:                   in.ActionsEnabled == nil || *in.ActionsEnabled,
		OKActions:                        in.OKActions,
		AlarmActions:                     in.AlarmActions,
		InsufficientDataActions:          in.InsufficientDataActions,
		Namespace:                        in.Namespace,
		MetricName:                       in.MetricName,
		Dimensions:                       toDims(in.Dimensions),
		Statistic:                        in.Statistic,
		ExtendedStatistic:                in.ExtendedStatistic,
		Unit:                             in.Unit,
		EvaluationPeriods:                *in.EvaluationPeriods,
		Threshold:                        *in.Threshold,
		ComparisonOperator:               alarm.Comparison(in.ComparisonOperator),
		TreatMissingData:                 alarm.MissingData(in.TreatMissingData),
		EvaluateLowSampleCountPercentile: in.EvaluateLowSampleCountPercentile,
	}
	if in.Period != nil {
		d.Period = *in.Period
		if d.Period == 0 {
			return nil, invalid(codeValidation, "Period 0 is not valid: it must be at least 1 second.")
		}
	}
	if in.DatapointsToAlarm != nil {
		if *in.DatapointsToAlarm < 1 {
			return nil, invalid(codeValidation, "DatapointsToAlarm %d is not valid: it must be at least 1.", *in.DatapointsToAlarm)
		}
		d.DatapointsToAlarm = *in.DatapointsToAlarm
	}
	if len(in.Dimensions) == 0 {
		d.Dimensions = nil
	}
	for _, t := range in.Tags {
		d.Tags = append(d.Tags, alarm.Tag{Key: t.Key, Value: t.Value})
	}
	if _, _, err := a.Alarms.Put(ctx, d); err != nil {
		return nil, wireError(err, codeValidation)
	}
	return nil, nil
}

type describeAlarmsInput struct {
	AlarmNames          []string
	AlarmNamePrefix     string
	AlarmTypes          []string
	ChildrenOfAlarmName string
	ParentsOfAlarmName  string
	StateValue          string
	ActionPrefix        string
	MaxRecords          *int32
	NextToken           string
}

// compositeAlarm is never filled: Sluice has no composite alarms, but clients expect the list.
type compositeAlarm struct {
	AlarmName string
}

type metricAlarm struct {
	AlarmName                          string
	AlarmArn                           string
	AlarmDescription                   string
	AlarmConfigurationUpdatedTimestamp time.Time
	ActionsEnabled                     bool
	OKActions                          []string
	AlarmActions                       []string
	InsufficientDataActions            []string
	StateValue                         string
	StateReason                        string
	StateReasonData                    string
	StateUpdatedTimestamp              time.Time
	MetricName                         string
	Namespace                          string
	Statistic                          string
	ExtendedStatistic                  string
	Dimensions                         []dimension
	Period                             int32
	Unit                               string
	EvaluationPeriods                  int32
	DatapointsToAlarm                  *int32
	Threshold                          float64
	ComparisonOperator                 string
	TreatMissingData                   string
	EvaluateLowSampleCountPercentile   string
	StateTransitionedTimestamp         time.Time
}

type describeAlarmsOutput struct {
	CompositeAlarms []compositeAlarm
	MetricAlarms    []metricAlarm
	NextToken       string
}

func (a *API) describeAlarms(ctx context.Context, in *describeAlarmsInput) (*describeAlarmsOutput, error) {
	out := &describeAlarmsOutput{CompositeAlarms: []compositeAlarm{}, MetricAlarms: []metricAlarm{}}
	if len(in.AlarmNames) > 100 {
		return nil, invalid(codeValidation, "%d AlarmNames given; at most 100 are accepted.", len(in.AlarmNames))
	}
	limit := 50
	if in.MaxRecords != nil {
		if *in.MaxRecords < 1 || *in.MaxRecords > 100 {
			return nil, invalid(codeValidation, "MaxRecords %d is not valid: it must be from 1 to 100.", *in.MaxRecords)
		}
		limit = int(*in.MaxRecords)
	}
	var state alarm.StateValue
	if in.StateValue != "" {
		s, err := alarm.ParseState(in.StateValue)
		if err != nil {
			return nil, wireError(err, codeValidation)
		}
		state = s
	}
	for _, t := range in.AlarmTypes {
		if t != "MetricAlarm" && t != "CompositeAlarm" {
			return nil, invalid(codeValidation, "AlarmTypes value %q is not valid: expected MetricAlarm or CompositeAlarm.", t)
		}
	}
	// Only metric alarms exist here: a request for composite alarms alone, or for the
	// children or parents of a composite alarm, finds nothing.
	if (len(in.AlarmTypes) > 0 && !slices.Contains(in.AlarmTypes, "MetricAlarm")) || in.ChildrenOfAlarmName != "" || in.ParentsOfAlarmName != "" {
		return out, nil
	}
	alarms, next, err := a.Alarms.List(alarm.ListQuery{Names: in.AlarmNames, NamePrefix: in.AlarmNamePrefix, State: state,
		ActionPrefix: in.ActionPrefix, Limit: limit, NextToken: in.NextToken})
	if err != nil {
		return nil, wireError(err, codeValidation)
	}
	for i := range alarms {
		out.MetricAlarms = append(out.MetricAlarms, toMetricAlarm(&alarms[i]))
	}
	out.NextToken = next
	return out, nil
}

func toMetricAlarm(al *alarm.Alarm) metricAlarm {
	m := metricAlarm{
		AlarmName:                          al.AlarmName,
		AlarmArn:                           al.ARN,
		AlarmDescription:                   al.AlarmDescription,
		AlarmConfigurationUpdatedTimestamp: al.ConfigurationUpdated,
		ActionsEnabled:                     al.ActionsEnabled,
		OKActions:                          nonNil(al.OKActions),
		AlarmActions:                       nonNil(al.AlarmActions),
		InsufficientDataActions:            nonNil(al.InsufficientDataActions),
		StateValue:                         string(al.State.Value),
		StateReason:                        al.State.Reason,
		StateReasonData:                    al.State.ReasonData,
		StateUpdatedTimestamp:              al.State.Updated,
		MetricName:                         al.MetricName,
		Namespace:                          al.Namespace,
		Statistic:                          al.Statistic,
		ExtendedStatistic:                  al.ExtendedStatistic,
		Dimensions:                         fromDims(al.Dimensions),
		Period:                             al.Period,
		Unit:                               al.Unit,
		EvaluationPeriods:                  al.EvaluationPeriods,
		Threshold:                          al.Threshold,
		ComparisonOperator:                 string(al.ComparisonOperator),
		TreatMissingData:                   string(al.TreatMissingData),
		EvaluateLowSampleCountPercentile:   al.EvaluateLowSampleCountPercentile,
		StateTransitionedTimestamp:         al.State.Transitioned,
	}
	if al.DatapointsToAlarm > 0 {
		n := al.DatapointsToAlarm
		m.DatapointsToAlarm = &n
	}
	return m
}

type deleteAlarmsInput struct {
	AlarmNames []string
}

func (a *API) deleteAlarms(ctx context.Context, in *deleteAlarmsInput) (*struct{}, error) {
	if len(in.AlarmNames) == 0 {
		return nil, invalid(codeMissingParameter, "The parameter AlarmNames is required.")
	}
	return nil, wireError(a.Alarms.Delete(ctx, in.AlarmNames), codeValidation)
}

type describeAlarmHistoryInput struct {
	AlarmName       string
	AlarmTypes      []string
	HistoryItemType string
	StartDate       *time.Time
	EndDate         *time.Time
	MaxRecords      *int32
	NextToken       string
	ScanBy          string
}

type alarmHistoryItem struct {
	AlarmName       string
	AlarmType       string
	Timestamp       time.Time
	HistoryItemType string
	HistorySummary  string
	HistoryData     string
}

type describeAlarmHistoryOutput struct {
	AlarmHistoryItems []alarmHistoryItem
	NextToken         string
}

func (a *API) describeAlarmHistory(ctx context.Context, in *describeAlarmHistoryInput) (*describeAlarmHistoryOutput, error) {
	out := &describeAlarmHistoryOutput{AlarmHistoryItems: []alarmHistoryItem{}}
	q := alarm.HistoryQuery{AlarmName: in.AlarmName, NextToken: in.NextToken, Limit: 100}
	switch in.HistoryItemType {
	case "", "ConfigurationUpdate", "StateUpdate", "Action":
		q.ItemType = alarm.HistoryItemType(in.HistoryItemType)
	default:
		return nil, invalid(codeValidation, "HistoryItemType %q is not valid: expected ConfigurationUpdate, StateUpdate or Action.", in.HistoryItemType)
	}
	switch in.ScanBy {
	case "", "TimestampDescending":
	case "TimestampAscending":
		q.Ascending = true
	default:
		return nil, invalid(codeValidation, "ScanBy %q is not valid: expected TimestampDescending or TimestampAscending.", in.ScanBy)
	}
	if in.MaxRecords != nil {
		if *in.MaxRecords < 1 || *in.MaxRecords > 100 {
			return nil, invalid(codeValidation, "MaxRecords %d is not valid: it must be from 1 to 100.", *in.MaxRecords)
		}
		q.Limit = int(*in.MaxRecords)
	}
	if in.StartDate != nil {
		q.Start = *in.StartDate
	}
	if in.EndDate != nil {
		q.End = *in.EndDate
	}
	if len(in.AlarmTypes) > 0 && !slices.Contains(in.AlarmTypes, "MetricAlarm") {
		return out, nil
	}
	items, next, err := a.Alarms.History(ctx, q)
	if err != nil {
		return nil, wireError(err, codeValidation)
	}
	for _, it := range items {
		out.AlarmHistoryItems = append(out.AlarmHistoryItems, alarmHistoryItem{AlarmName: it.AlarmName, AlarmType: it.AlarmType,
			Timestamp: it.Timestamp, HistoryItemType: string(it.HistoryItemType), HistorySummary: it.HistorySummary, HistoryData: it.HistoryData})
	}
	out.NextToken = next
	return out, nil
}

type setAlarmStateInput struct {
	AlarmName       string
	StateValue      string
	StateReason     *string
	StateReasonData string
}

func (a *API) setAlarmState(ctx context.Context, in *setAlarmStateInput) (*struct{}, error) {
	switch {
	case in.AlarmName == "":
		return nil, invalid(codeMissingParameter, "The parameter AlarmName is required.")
	case in.StateValue == "":
		return nil, invalid(codeMissingParameter, "The parameter StateValue is required: OK, ALARM or INSUFFICIENT_DATA.")
	case in.StateReason == nil:
		return nil, invalid(codeMissingParameter, "The parameter StateReason is required.")
	}
	err := a.Alarms.SetState(ctx, in.AlarmName, alarm.StateValue(in.StateValue), *in.StateReason, in.StateReasonData)
	return nil, wireError(err, codeValidation)
}
