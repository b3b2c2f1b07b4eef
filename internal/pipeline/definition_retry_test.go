package pipeline

import (
	"testing"
	"time"
)

func TestRetryPolicyFromAbalone(t *testing.T) {
	d := parseFixture(t, "abalone.good.json")
	train, _ := d.Step("TrainAbaloneModel")
	if len(train.RetryPolicies) != 2 {
		t.Fatalf("%d retry policies, want 2", len(train.RetryPolicies))
	}
	svc, ok := train.RetryPolicyFor(RetryStepThrottling)
	if !ok || svc.IntervalSeconds != 10 || svc.BackoffRate != 2 || svc.MaxAttempts != 5 || svc.ExpireAfterMin != 0 {
		t.Fatalf("Step.THROTTLING policy = %+v, %v", svc, ok)
	}
	capacity, ok := train.RetryPolicyFor(RetryJobCapacityError)
	if !ok || capacity.ExpireAfterMin != 60 || capacity.IntervalSeconds != 1 {
		t.Fatalf("SageMaker.CAPACITY_ERROR policy = %+v, %v", capacity, ok)
	}
	if _, ok := train.RetryPolicyFor(RetryJobInternalError); ok {
		t.Error("a policy matched SageMaker.JOB_INTERNAL_ERROR, which no policy names")
	}

	delays := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second}
	for i, want := range delays {
		if got := svc.Delay(i + 1); got != want {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, want)
		}
	}
	tests := []struct {
		name    string
		p       RetryPolicy
		retry   int
		elapsed time.Duration
		want    bool
	}{
		{"within attempts", svc, 5, time.Hour, true},
		{"beyond attempts", svc, 6, 0, false},
		{"within window", capacity, 100, 59 * time.Minute, true},
		{"window over", capacity, 1, 60 * time.Minute, false},
		{"never retry", RetryPolicy{MaxAttempts: 0}, 1, 0, false},
	}
	for _, tt := range tests {
		if got := tt.p.Allows(tt.retry, tt.elapsed); got != tt.want {
			t.Errorf("%s: Allows(%d, %v) = %v", tt.name, tt.retry, tt.elapsed, got)
		}
	}
}

func TestParseRetryPolicyDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want RetryPolicy
	}{
		{"defaults", `{"ExceptionType": ["Step.SERVICE_FAULT"]}`,
			RetryPolicy{ExceptionTypes: []string{"Step.SERVICE_FAULT"}, IntervalSeconds: 1, BackoffRate: 2, MaxAttempts: 5}},
		{"single string type", `{"ExceptionType": "Step.THROTTLING", "MaxAttempts": 0}`,
			RetryPolicy{ExceptionTypes: []string{"Step.THROTTLING"}, IntervalSeconds: 1, BackoffRate: 2, MaxAttempts: 0}},
		{"zero window", `{"ExceptionType": ["SageMaker.RESOURCE_LIMIT"], "ExpireAfterMin": 0, "BackoffRate": 1}`,
			RetryPolicy{ExceptionTypes: []string{"SageMaker.RESOURCE_LIMIT"}, IntervalSeconds: 1, BackoffRate: 1, MaxAttempts: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRetryPolicy(mustJSON(t, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got.IntervalSeconds != tt.want.IntervalSeconds || got.BackoffRate != tt.want.BackoffRate ||
				got.MaxAttempts != tt.want.MaxAttempts || got.ExpireAfterMin != tt.want.ExpireAfterMin ||
				len(got.ExceptionTypes) != len(tt.want.ExceptionTypes) || got.ExceptionTypes[0] != tt.want.ExceptionTypes[0] {
				t.Fatalf("parseRetryPolicy = %+v, want %+v", got, tt.want)
			}
		})
	}
}
