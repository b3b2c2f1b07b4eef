package pipeline

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The exception types a RetryPolicy may name. Step.* are failures of the service call that
// starts a step; SageMaker.* are failures of the job a step runs.
const (
	RetryStepServiceFault         = "Step.SERVICE_FAULT"
	RetryStepThrottling           = "Step.THROTTLING"
	RetryJobInternalError         = "SageMaker.JOB_INTERNAL_ERROR"
	RetryJobCapacityError         = "SageMaker.CAPACITY_ERROR"
	RetryJobResourceLimit         = "SageMaker.RESOURCE_LIMIT"
	RetryEMRResourceLimit         = "Emr.RESOURCE_LIMIT"
	defaultRetryIntervalSeconds   = 1
	defaultRetryBackoffRate       = 2.0
	defaultRetryMaxAttempts       = 5
	maxRetryIntervalSeconds       = 43200
	maxRetryAttempts              = 20
	maxRetryExpireAfterMin        = 14400
	retryExceptionPrefixStep      = "Step."
	retryExceptionPrefixSageMaker = "SageMaker."
)

var retryExceptionTypes = []string{
	RetryStepServiceFault, RetryStepThrottling, RetryJobInternalError, RetryJobCapacityError,
	RetryJobResourceLimit, RetryEMRResourceLimit,
}

// RetryPolicy is one entry of a step's RetryPolicies, with SageMaker's defaults filled in.
type RetryPolicy struct {
	// ExceptionTypes (JSON ExceptionType, a list) are the failures this policy retries.
	ExceptionTypes []string
	// IntervalSeconds is the wait before the first retry (default 1).
	IntervalSeconds int
	// BackoffRate multiplies the wait for each further retry (default 2.0).
	BackoffRate float64
	// MaxAttempts is the most retries allowed (default 5; 0 means never retry). It is unused
	// when ExpireAfterMin is set.
	MaxAttempts int
	// ExpireAfterMin, when positive, allows retries for that many minutes after the first
	// attempt started, instead of counting them.
	ExpireAfterMin int
}

// Matches reports whether the policy covers the exception type.
func (p RetryPolicy) Matches(exceptionType string) bool {
	return slices.Contains(p.ExceptionTypes, exceptionType)
}

// Delay is the wait before retry number n (n ≥ 1): IntervalSeconds · BackoffRate^(n-1).
func (p RetryPolicy) Delay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	secs := float64(p.IntervalSeconds) * math.Pow(p.BackoffRate, float64(n-1))
	if secs > float64(math.MaxInt64)/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(secs * float64(time.Second))
}

// Allows reports whether retry number n (n ≥ 1) may run, elapsed being the time since the
// step's first attempt started.
func (p RetryPolicy) Allows(n int, elapsed time.Duration) bool {
	if p.ExpireAfterMin > 0 {
		return elapsed < time.Duration(p.ExpireAfterMin)*time.Minute
	}
	return n <= p.MaxAttempts
}

// RetryPolicyFor returns the first of the step's policies that covers the exception type.
func (s *Step) RetryPolicyFor(exceptionType string) (RetryPolicy, bool) {
	for _, p := range s.RetryPolicies {
		if p.Matches(exceptionType) {
			return p, true
		}
	}
	return RetryPolicy{}, false
}

func parseRetryPolicy(v any) (RetryPolicy, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return RetryPolicy{}, fmt.Errorf("want an object, got %s", describeKind(v))
	}
	p := RetryPolicy{IntervalSeconds: defaultRetryIntervalSeconds, BackoffRate: defaultRetryBackoffRate, MaxAttempts: defaultRetryMaxAttempts}
	switch et := m["ExceptionType"].(type) {
	case nil:
		return RetryPolicy{}, locate("ExceptionType", errors.New("required"))
	case string: // the JSON Schema repo's form; the SDK sends a list
		p.ExceptionTypes = []string{et}
	case []any:
		for i, e := range et {
			s, ok := e.(string)
			if !ok {
				return RetryPolicy{}, locate(fmt.Sprintf("ExceptionType[%d]", i), fmt.Errorf("want a string, got %s", describeKind(e)))
			}
			p.ExceptionTypes = append(p.ExceptionTypes, s)
		}
	default:
		return RetryPolicy{}, locate("ExceptionType", fmt.Errorf("want a list of strings, got %s", describeKind(et)))
	}
	intField := func(key string, lo, hi int, dst *int) error {
		v, present := m[key]
		if !present || v == nil {
			return nil
		}
		n, ok := toNumber(v)
		if !ok || (!n.isInt && n.f != math.Trunc(n.f)) {
			return locate(key, fmt.Errorf("want an integer, got %s", describeKind(v)))
		}
		i := int64(n.float())
		if n.isInt {
			i = n.i
		}
		if i < int64(lo) || i > int64(hi) {
			return locate(key, fmt.Errorf("%d is out of range [%d, %d]", i, lo, hi))
		}
		*dst = int(i)
		return nil
	}
	if err := intField("IntervalSeconds", 0, maxRetryIntervalSeconds, &p.IntervalSeconds); err != nil {
		return RetryPolicy{}, err
	}
	if err := intField("MaxAttempts", 0, maxRetryAttempts, &p.MaxAttempts); err != nil {
		return RetryPolicy{}, err
	}
	expire := -1
	if err := intField("ExpireAfterMin", 0, maxRetryExpireAfterMin, &expire); err != nil {
		return RetryPolicy{}, err
	}
	if expire >= 0 {
		if _, both := m["MaxAttempts"]; both {
			return RetryPolicy{}, locate("ExpireAfterMin", errors.New("MaxAttempts and ExpireAfterMin are mutually exclusive"))
		}
		p.ExpireAfterMin = expire
		if expire == 0 {
			p.MaxAttempts = 0 // a window of no time allows no retry
		}
	}
	if br, present := m["BackoffRate"]; present && br != nil {
		n, ok := toNumber(br)
		if !ok || n.float() < 0 {
			return RetryPolicy{}, locate("BackoffRate", fmt.Errorf("want a non-negative number, got %v", br))
		}
		p.BackoffRate = n.float()
	}
	return p, nil
}

// validateRetryPolicy checks a policy against the step type it is attached to.
func validateRetryPolicy(p RetryPolicy, t StepType) error {
	if len(p.ExceptionTypes) == 0 {
		return locate("ExceptionType", errors.New("needs at least one exception type"))
	}
	var hasStep, hasJob bool
	for i, et := range p.ExceptionTypes {
		at := fmt.Sprintf("ExceptionType[%d]", i)
		if !slices.Contains(retryExceptionTypes, et) {
			return locate(at, fmt.Errorf("unknown exception type %q (want one of %s)", et, strings.Join(retryExceptionTypes, ", ")))
		}
		switch {
		case strings.HasPrefix(et, retryExceptionPrefixStep):
			hasStep = true
		case strings.HasPrefix(et, retryExceptionPrefixSageMaker):
			hasJob = true
			if !isJobStep(t) {
				return locate(at, fmt.Errorf("%s applies to steps that run a job (Processing, Training, Transform), not %s", et, t))
			}
		default:
			return locate(at, fmt.Errorf("%s applies only to EMR steps", et))
		}
	}
	if hasStep && hasJob {
		return locate("ExceptionType", errors.New("Step.* and SageMaker.* exception types go in separate policies"))
	}
	return nil
}

func isJobStep(t StepType) bool {
	return t == StepProcessing || t == StepTraining || t == StepTransform
}
