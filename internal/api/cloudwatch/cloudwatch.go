// Package cloudwatch serves the subset of Amazon CloudWatch that deployment guardrails use —
// metric alarms (PutMetricAlarm, DescribeAlarms, DeleteAlarms, DescribeAlarmHistory,
// SetAlarmState) and metric data (PutMetricData, GetMetricStatistics, ListMetrics) — over the
// protocols CloudWatch's clients speak (see awsapi.QueryService). Handlers check the wire shape
// and call the alarm package; the rules live there.
package cloudwatch

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/awsapi"
)

// Protocol constants of CloudWatch.
const (
	// ServiceID is CloudWatch's Smithy service name: the JSON target prefix and RPC v2 path.
	ServiceID = "GraniteServiceVersion20100801"
	// Version is the query API version.
	Version = "2010-08-01"
	// XMLNamespace is the namespace of query responses.
	XMLNamespace = "http://monitoring.amazonaws.com/doc/2010-08-01/"
	// SigningName is the SigV4 service name CloudWatch clients sign with.
	SigningName = "monitoring"
)

// Error codes CloudWatch answers with (query codes; JSON and CBOR clients also get the shape
// name, from errorShapes).
const (
	codeValidation           = "ValidationError"
	codeInvalidParameter     = "InvalidParameterValue"
	codeMissingParameter     = "MissingParameter"
	codeInvalidCombination   = "InvalidParameterCombination"
	codeResourceNotFound     = "ResourceNotFound"
	codeLimitExceeded        = "LimitExceeded"
	codeInvalidNextToken     = "InvalidNextToken"
	codeInvalidFormat        = "InvalidFormat"
	codeInternalServiceError = "InternalServiceError"
)

var errorShapes = map[string]string{
	codeInvalidParameter:     "InvalidParameterValueException",
	codeMissingParameter:     "MissingRequiredParameterException",
	codeInvalidCombination:   "InvalidParameterCombinationException",
	codeLimitExceeded:        "LimitExceededFault",
	codeInvalidFormat:        "InvalidFormatFault",
	codeInternalServiceError: "InternalServiceFault",
}

// API holds what the handlers need.
type API struct {
	Alarms *alarm.Service
	Log    *slog.Logger
}

// Service returns the CloudWatch endpoint with every operation registered. authenticate checks
// SigV4 (signing name "monitoring"); observe, if set, receives per-operation metrics.
func (a *API) Service(authenticate func(*http.Request) (awsapi.Principal, error), observe awsapi.Observer) *awsapi.QueryService {
	q := &awsapi.QueryService{
		ServiceID:      ServiceID,
		Version:        Version,
		XMLNamespace:   XMLNamespace,
		ErrorShapes:    errorShapes,
		ValidationCode: codeValidation,
		InternalCode:   codeInternalServiceError,
		Authenticate:   authenticate,
		Log:            a.Log,
		Observe:        observe,
	}
	q.Handle("PutMetricAlarm", awsapi.QueryOp(a.putMetricAlarm))
	q.Handle("DescribeAlarms", awsapi.QueryOp(a.describeAlarms))
	q.Handle("DeleteAlarms", awsapi.QueryOp(a.deleteAlarms))
	q.Handle("DescribeAlarmHistory", awsapi.QueryOp(a.describeAlarmHistory))
	q.Handle("SetAlarmState", awsapi.QueryOp(a.setAlarmState))
	q.Handle("PutMetricData", awsapi.QueryOp(a.putMetricData))
	q.Handle("GetMetricStatistics", awsapi.QueryOp(a.getMetricStatistics))
	q.Handle("ListMetrics", awsapi.QueryOp(a.listMetrics))
	return q
}

// wireError turns an alarm error into CloudWatch's code for it. invalid is the code the
// operation uses for a bad value: alarm operations answer ValidationError, metric operations
// InvalidParameterValue.
func wireError(err error, invalid string) error {
	var ae *alarm.Error
	if !errors.As(err, &ae) {
		return err
	}
	code, status := invalid, http.StatusBadRequest
	switch {
	case errors.Is(ae, alarm.ErrNotFound):
		code, status = codeResourceNotFound, http.StatusNotFound
	case errors.Is(ae, alarm.ErrMissing):
		code = codeMissingParameter
	case errors.Is(ae, alarm.ErrCombination):
		code = codeInvalidCombination
	case errors.Is(ae, alarm.ErrLimit):
		code = codeLimitExceeded
	case errors.Is(ae, alarm.ErrFormat):
		code = codeInvalidFormat
	case errors.Is(ae, alarm.ErrNextToken):
		code = codeInvalidNextToken
	}
	return awsapi.NewError(code, status, "%s", ae.Message)
}

func invalid(code, format string, args ...any) error {
	return awsapi.NewError(code, http.StatusBadRequest, format, args...)
}

// dimension is CloudWatch's Dimension shape.
type dimension struct {
	Name  string
	Value string
}

func toDims(in []dimension) []alarm.Dimension {
	out := make([]alarm.Dimension, len(in))
	for i, d := range in {
		out[i] = alarm.Dimension{Name: d.Name, Value: d.Value}
	}
	return out
}

func fromDims(in []alarm.Dimension) []dimension {
	out := make([]dimension, len(in))
	for i, d := range in {
		out[i] = dimension{Name: d.Name, Value: d.Value}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
