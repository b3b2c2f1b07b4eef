package hosting

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// DeploymentConfig is checked as SageMaker checks it: member limits first, then the rules that
// depend on the new fleet's size.
func TestDeploymentConfigValidation(t *testing.T) {
	bg := func(tr string, extra string) string {
		return `{"BlueGreenUpdatePolicy":{"TrafficRoutingConfiguration":` + tr + extra + `}}`
	}
	cases := []struct {
		name      string
		doc       string
		instances int
		// steps is the expected traffic in percent; err a fragment of the expected error.
		steps string
		err   string
	}{
		{"empty", ``, 1, "[100]", ""},
		{"null", `null`, 1, "[100]", ""},
		{"all at once", bg(`{"Type":"ALL_AT_ONCE","WaitIntervalInSeconds":0}`, ""), 1, "[100]", ""},
		{"canary percent", bg(`{"Type":"CANARY","WaitIntervalInSeconds":60,"CanarySize":{"Type":"CAPACITY_PERCENT","Value":10}}`, `,"TerminationWaitInSeconds":300`), 1, "[10 100]", ""},
		{"canary instances", bg(`{"Type":"CANARY","WaitIntervalInSeconds":60,"CanarySize":{"Type":"INSTANCE_COUNT","Value":1}}`, ""), 4, "[25 100]", ""},
		{"canary half", bg(`{"Type":"CANARY","WaitIntervalInSeconds":60,"CanarySize":{"Type":"INSTANCE_COUNT","Value":2}}`, ""), 4, "[50 100]", ""},
		{"canary over half", bg(`{"Type":"CANARY","WaitIntervalInSeconds":60,"CanarySize":{"Type":"INSTANCE_COUNT","Value":1}}`, ""), 1, "", "more than half"},
		{"linear thirds", bg(`{"Type":"LINEAR","WaitIntervalInSeconds":5,"LinearStepSize":{"Type":"CAPACITY_PERCENT","Value":33}}`, ""), 3, "[33 66 99 100]", ""},
		{"linear tenths", bg(`{"Type":"LINEAR","WaitIntervalInSeconds":5,"LinearStepSize":{"Type":"CAPACITY_PERCENT","Value":10}}`, ""), 3, "[10 20 30 40 50 60 70 80 90 100]", ""},
		{"linear too small", bg(`{"Type":"LINEAR","WaitIntervalInSeconds":5,"LinearStepSize":{"Type":"CAPACITY_PERCENT","Value":5}}`, ""), 3, "", "not 10-50%"},
		{"linear too big", bg(`{"Type":"LINEAR","WaitIntervalInSeconds":5,"LinearStepSize":{"Type":"INSTANCE_COUNT","Value":3}}`, ""), 4, "", "not 10-50%"},
		{"canary without size", bg(`{"Type":"CANARY","WaitIntervalInSeconds":60}`, ""), 4, "", "needs CanarySize"},
		{"linear without size", bg(`{"Type":"LINEAR","WaitIntervalInSeconds":60}`, ""), 4, "", "needs LinearStepSize"},
		{"size of another type", bg(`{"Type":"LINEAR","WaitIntervalInSeconds":60,"LinearStepSize":{"Type":"CAPACITY_PERCENT","Value":20},"CanarySize":{"Type":"CAPACITY_PERCENT","Value":20}}`, ""), 4, "", "CanarySize applies only"},
		{"no routing", `{"BlueGreenUpdatePolicy":{}}`, 1, "", "Value null at 'deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration'"},
		{"no type, no wait", bg(`{}`, ""), 1, "", "2 validation errors detected"},
		{"bad type", bg(`{"Type":"SOMETIMES","WaitIntervalInSeconds":1}`, ""), 1, "", "Member must satisfy enum value set: [ALL_AT_ONCE, CANARY, LINEAR]"},
		{"wait too long", bg(`{"Type":"ALL_AT_ONCE","WaitIntervalInSeconds":3601}`, ""), 1, "", "Value '3601' at 'deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.waitIntervalInSeconds' failed to satisfy constraint: Member must have value less than or equal to 3600"},
		{"negative wait", bg(`{"Type":"ALL_AT_ONCE","WaitIntervalInSeconds":-1}`, ""), 1, "", "greater than or equal to 0"},
		{"termination too long", bg(`{"Type":"ALL_AT_ONCE","WaitIntervalInSeconds":1}`, `,"TerminationWaitInSeconds":3601`), 1, "", "terminationWaitInSeconds"},
		{"timeout too short", bg(`{"Type":"ALL_AT_ONCE","WaitIntervalInSeconds":1}`, `,"MaximumExecutionTimeoutInSeconds":599`), 1, "", "greater than or equal to 600"},
		{"timeout too long", bg(`{"Type":"ALL_AT_ONCE","WaitIntervalInSeconds":1}`, `,"MaximumExecutionTimeoutInSeconds":28801`), 1, "", "less than or equal to 28800"},
		{"timeout under the waits", bg(`{"Type":"CANARY","WaitIntervalInSeconds":300,"CanarySize":{"Type":"CAPACITY_PERCENT","Value":10}}`, `,"TerminationWaitInSeconds":60,"MaximumExecutionTimeoutInSeconds":600`), 1, "", "must be larger than the total of the waits"},
		{"timeout over the waits", bg(`{"Type":"CANARY","WaitIntervalInSeconds":270,"CanarySize":{"Type":"CAPACITY_PERCENT","Value":10}}`, `,"TerminationWaitInSeconds":59,"MaximumExecutionTimeoutInSeconds":600`), 1, "[10 100]", ""},
		{"percent over 100", bg(`{"Type":"CANARY","WaitIntervalInSeconds":1,"CanarySize":{"Type":"CAPACITY_PERCENT","Value":101}}`, ""), 1, "", "at most 100"},
		{"zero size", bg(`{"Type":"CANARY","WaitIntervalInSeconds":1,"CanarySize":{"Type":"INSTANCE_COUNT","Value":0}}`, ""), 1, "", "greater than or equal to 1"},
		{"bad size type", bg(`{"Type":"CANARY","WaitIntervalInSeconds":1,"CanarySize":{"Type":"HALF","Value":1}}`, ""), 1, "", "[INSTANCE_COUNT, CAPACITY_PERCENT]"},
		{"unknown member", `{"BlueGreenUpdatePolicy":{"Color":"blue"}}`, 1, "", "unknown field"},
		{"not an object", `[1]`, 1, "", "DeploymentConfig is not valid"},
		{"rolling", `{"RollingUpdatePolicy":{"MaximumBatchSize":{"Type":"CAPACITY_PERCENT","Value":25},"WaitIntervalInSeconds":30}}`, 4, "[25 50 75 100]", ""},
		{"rolling batch too big", `{"RollingUpdatePolicy":{"MaximumBatchSize":{"Type":"INSTANCE_COUNT","Value":3},"WaitIntervalInSeconds":30}}`, 4, "", "not 5-50%"},
		{"rolling without batch", `{"RollingUpdatePolicy":{"WaitIntervalInSeconds":30}}`, 4, "", "rollingUpdatePolicy.maximumBatchSize"},
		{"both policies", `{"RollingUpdatePolicy":{"MaximumBatchSize":{"Type":"CAPACITY_PERCENT","Value":25},"WaitIntervalInSeconds":30},` + bg(`{"Type":"ALL_AT_ONCE","WaitIntervalInSeconds":1}`, "")[1:], 4, "", "not both"},
		{"alarms", `{"AutoRollbackConfiguration":{"Alarms":[{"AlarmName":"a"},{"AlarmName":"b"},{"AlarmName":"a"}]}}`, 1, "[100]", ""},
		{"blank alarm", `{"AutoRollbackConfiguration":{"Alarms":[{"AlarmName":"  "}]}}`, 1, "", "alarms.1.member.alarmName"},
		{"empty alarm", `{"AutoRollbackConfiguration":{"Alarms":[{"AlarmName":""}]}}`, 1, "", "Value null at 'deploymentConfig.autoRollbackConfiguration.alarms.1.member.alarmName'"},
		{"no alarms", `{"AutoRollbackConfiguration":{"Alarms":[]}}`, 1, "", "length greater than or equal to 1"},
		{"eleven alarms", `{"AutoRollbackConfiguration":{"Alarms":[` + strings.Repeat(`{"AlarmName":"a"},`, 10) + `{"AlarmName":"a"}]}}`, 1, "", "less than or equal to 10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseDeploymentConfig([]byte(tc.doc))
			var s strategy
			if err == nil {
				s, err = strategyFor(c, tc.instances)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []float64
			for _, f := range s.Steps {
				got = append(got, percent(f))
			}
			if fmt.Sprint(got) != tc.steps {
				t.Fatalf("steps %v, want %s", got, tc.steps)
			}
		})
	}
	c, _ := ParseDeploymentConfig([]byte(`{"AutoRollbackConfiguration":{"Alarms":[{"AlarmName":"a"},{"AlarmName":"b"},{"AlarmName":"a"}]}}`))
	if fmt.Sprint(c.Alarms()) != "[a b]" {
		t.Fatalf("alarms %v", c.Alarms())
	}
	c, _ = ParseDeploymentConfig([]byte(`{"BlueGreenUpdatePolicy":{"TrafficRoutingConfiguration":{"Type":"LINEAR","WaitIntervalInSeconds":90,"LinearStepSize":{"Type":"CAPACITY_PERCENT","Value":50}},"TerminationWaitInSeconds":30,"MaximumExecutionTimeoutInSeconds":900}}`))
	s, _ := strategyFor(c, 2)
	if s.Wait != 90*time.Second || s.TerminationWait != 30*time.Second || s.Timeout != 900*time.Second || s.Kind != TrafficLinear {
		t.Fatalf("strategy %+v", s)
	}
}
