package hosting

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DeploymentConfig is CreateEndpoint's and UpdateEndpoint's DeploymentConfig: how an update
// moves traffic from the old fleet (blue) to the new one (green), and which alarms roll it
// back.
type DeploymentConfig struct {
	BlueGreenUpdatePolicy     *BlueGreenUpdatePolicy     `json:"BlueGreenUpdatePolicy,omitempty"`
	RollingUpdatePolicy       *RollingUpdatePolicy       `json:"RollingUpdatePolicy,omitempty"`
	AutoRollbackConfiguration *AutoRollbackConfiguration `json:"AutoRollbackConfiguration,omitempty"`
}

// BlueGreenUpdatePolicy starts a whole new fleet and shifts traffic onto it.
type BlueGreenUpdatePolicy struct {
	TrafficRoutingConfiguration *TrafficRoutingConfiguration `json:"TrafficRoutingConfiguration,omitempty"`
	// TerminationWaitInSeconds is the last bake, with all traffic on the new fleet and the old
	// one still running, before the old one stops.
	TerminationWaitInSeconds         *int32 `json:"TerminationWaitInSeconds,omitempty"`
	MaximumExecutionTimeoutInSeconds *int32 `json:"MaximumExecutionTimeoutInSeconds,omitempty"`
}

// TrafficRoutingConfiguration says how traffic moves: all at once, a canary then the rest, or
// linear steps, with WaitIntervalInSeconds of baking after each.
type TrafficRoutingConfiguration struct {
	Type                  string        `json:"Type,omitempty"`
	WaitIntervalInSeconds *int32        `json:"WaitIntervalInSeconds,omitempty"`
	CanarySize            *CapacitySize `json:"CanarySize,omitempty"`
	LinearStepSize        *CapacitySize `json:"LinearStepSize,omitempty"`
}

// CapacitySize is a number of instances or a percentage of the new fleet's capacity.
type CapacitySize struct {
	Type  string `json:"Type,omitempty"`
	Value *int32 `json:"Value,omitempty"`
}

// RollingUpdatePolicy replaces the fleet in batches of instances.
type RollingUpdatePolicy struct {
	MaximumBatchSize                 *CapacitySize `json:"MaximumBatchSize,omitempty"`
	WaitIntervalInSeconds            *int32        `json:"WaitIntervalInSeconds,omitempty"`
	MaximumExecutionTimeoutInSeconds *int32        `json:"MaximumExecutionTimeoutInSeconds,omitempty"`
	RollbackMaximumBatchSize         *CapacitySize `json:"RollbackMaximumBatchSize,omitempty"`
}

// AutoRollbackConfiguration names the alarms that roll an update back.
type AutoRollbackConfiguration struct {
	Alarms []AlarmRef `json:"Alarms,omitempty"`
}

// AlarmRef names a CloudWatch alarm.
type AlarmRef struct {
	AlarmName string `json:"AlarmName"`
}

// Traffic routing types and capacity size types.
const (
	TrafficAllAtOnce = "ALL_AT_ONCE"
	TrafficCanary    = "CANARY"
	TrafficLinear    = "LINEAR"
	// StrategyRolling names a RollingUpdatePolicy deployment in records.
	StrategyRolling = "ROLLING"

	CapacityInstanceCount = "INSTANCE_COUNT"
	CapacityPercent       = "CAPACITY_PERCENT"
)

// Limits of DeploymentConfig, from SageMaker's API model.
const (
	maxWaitSeconds      = 3600
	minExecutionTimeout = 600
	maxExecutionTimeout = 28800
	maxRollbackAlarms   = 10
	maxAlarmNameLength  = 255
)

// alarmNameRE is SageMaker's AlarmName pattern ^(?!\s*$).+ (anything but blank), without the
// lookahead Go's regexp lacks.
var alarmNameRE = regexp.MustCompile(`\S`)

// ParseDeploymentConfig decodes and checks a DeploymentConfig as SageMaker does, with the
// limits of each member; an empty or null document is no config (all at once, no alarms).
// Rules that depend on the fleet (a canary is at most half of it) are checked by strategyFor.
func ParseDeploymentConfig(raw json.RawMessage) (DeploymentConfig, error) {
	var c DeploymentConfig
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return c, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, errorf(ErrInvalid, "DeploymentConfig is not valid: %v.", strings.TrimPrefix(err.Error(), "json: "))
	}
	var v fieldChecker
	if bg := c.BlueGreenUpdatePolicy; bg != nil {
		const p = "deploymentConfig.blueGreenUpdatePolicy"
		if tr := bg.TrafficRoutingConfiguration; tr == nil {
			v.required(p + ".trafficRoutingConfiguration")
		} else {
			const q = p + ".trafficRoutingConfiguration"
			v.enum(q+".type", tr.Type, TrafficAllAtOnce, TrafficCanary, TrafficLinear)
			v.intRange(q+".waitIntervalInSeconds", tr.WaitIntervalInSeconds, true, 0, maxWaitSeconds)
			v.capacity(q+".canarySize", tr.CanarySize)
			v.capacity(q+".linearStepSize", tr.LinearStepSize)
		}
		v.intRange(p+".terminationWaitInSeconds", bg.TerminationWaitInSeconds, false, 0, maxWaitSeconds)
		v.intRange(p+".maximumExecutionTimeoutInSeconds", bg.MaximumExecutionTimeoutInSeconds, false, minExecutionTimeout, maxExecutionTimeout)
	}
	if r := c.RollingUpdatePolicy; r != nil {
		const p = "deploymentConfig.rollingUpdatePolicy"
		if r.MaximumBatchSize == nil {
			v.required(p + ".maximumBatchSize")
		}
		v.capacity(p+".maximumBatchSize", r.MaximumBatchSize)
		v.intRange(p+".waitIntervalInSeconds", r.WaitIntervalInSeconds, true, 0, maxWaitSeconds)
		v.intRange(p+".maximumExecutionTimeoutInSeconds", r.MaximumExecutionTimeoutInSeconds, false, minExecutionTimeout, maxExecutionTimeout)
		v.capacity(p+".rollbackMaximumBatchSize", r.RollbackMaximumBatchSize)
	}
	if a := c.AutoRollbackConfiguration; a != nil {
		const p = "deploymentConfig.autoRollbackConfiguration.alarms"
		if len(a.Alarms) == 0 {
			v.add(p, "[]", "Member must have length greater than or equal to 1")
		}
		if len(a.Alarms) > maxRollbackAlarms {
			v.add(p, fmt.Sprintf("[%d alarms]", len(a.Alarms)), fmt.Sprintf("Member must have length less than or equal to %d", maxRollbackAlarms))
		}
		for i, al := range a.Alarms {
			m := fmt.Sprintf("%s.%d.member.alarmName", p, i+1)
			switch n := len([]rune(al.AlarmName)); {
			case n == 0:
				v.required(m)
			case n > maxAlarmNameLength:
				v.add(m, al.AlarmName, fmt.Sprintf("Member must have length less than or equal to %d", maxAlarmNameLength))
			case !alarmNameRE.MatchString(al.AlarmName):
				v.add(m, al.AlarmName, `Member must satisfy regular expression pattern: ^(?!\s*$).+`)
			}
		}
	}
	if err := v.err(); err != nil {
		return c, err
	}
	if c.BlueGreenUpdatePolicy != nil && c.RollingUpdatePolicy != nil {
		return c, errorf(ErrInvalid, "DeploymentConfig: specify either BlueGreenUpdatePolicy or RollingUpdatePolicy, not both.")
	}
	if bg := c.BlueGreenUpdatePolicy; bg != nil {
		tr := bg.TrafficRoutingConfiguration
		switch {
		case tr.Type == TrafficCanary && tr.CanarySize == nil:
			return c, errorf(ErrInvalid, "DeploymentConfig: TrafficRoutingConfiguration Type CANARY needs CanarySize (INSTANCE_COUNT or CAPACITY_PERCENT).")
		case tr.Type == TrafficLinear && tr.LinearStepSize == nil:
			return c, errorf(ErrInvalid, "DeploymentConfig: TrafficRoutingConfiguration Type LINEAR needs LinearStepSize (INSTANCE_COUNT or CAPACITY_PERCENT).")
		case tr.Type != TrafficCanary && tr.CanarySize != nil:
			return c, errorf(ErrInvalid, "DeploymentConfig: CanarySize applies only to TrafficRoutingConfiguration Type CANARY, not %s.", tr.Type)
		case tr.Type != TrafficLinear && tr.LinearStepSize != nil:
			return c, errorf(ErrInvalid, "DeploymentConfig: LinearStepSize applies only to TrafficRoutingConfiguration Type LINEAR, not %s.", tr.Type)
		}
	}
	return c, nil
}

// checkDeploymentConfig is what Create and UpdateEndpoint check of a DeploymentConfig: its
// members, its fit with the new fleet, and that its rollback alarms exist.
func (s *Service) checkDeploymentConfig(raw json.RawMessage, plan Plan) error {
	cfg, err := ParseDeploymentConfig(raw)
	if err != nil {
		return err
	}
	if _, err := strategyFor(cfg, totalInstances(plan)); err != nil {
		return err
	}
	if names := cfg.Alarms(); len(names) > 0 && s.Alarms != nil {
		if missing := s.Alarms.Missing(names...); len(missing) > 0 {
			return errorf(ErrInvalid, "DeploymentConfig: the alarm(s) %s in AutoRollbackConfiguration do not exist; create them with PutMetricAlarm first.", strings.Join(missing, ", "))
		}
	}
	return nil
}

// Alarms returns the names of the AutoRollbackConfiguration's alarms, without repeats.
func (c DeploymentConfig) Alarms() []string {
	if c.AutoRollbackConfiguration == nil {
		return nil
	}
	var out []string
	for _, a := range c.AutoRollbackConfiguration.Alarms {
		if !slices.Contains(out, a.AlarmName) {
			out = append(out, a.AlarmName)
		}
	}
	return out
}

// strategy is a DeploymentConfig resolved against the new fleet: the share of traffic on the
// new fleet after each step, and the waits.
type strategy struct {
	// Kind is ALL_AT_ONCE, CANARY, LINEAR or ROLLING.
	Kind string
	// Steps are the fractions of traffic on the new fleet after each step, rising to 1.
	Steps []float64
	// Wait is the bake after each step; TerminationWait the final one before the old fleet
	// stops.
	Wait, TerminationWait time.Duration
	// Timeout bounds the whole deployment; 0 means no bound beyond the fleets' own startup
	// timeouts.
	Timeout time.Duration
	// Rolling grows the new fleet step by step (Steps are then also its share of the
	// variants' instances) instead of starting it whole, and shrinks the old fleet as it goes.
	Rolling bool
	// RollbackBatch is the share of each old variant's instances that a rolling update's
	// rollback brings back at a time (RollbackMaximumBatchSize); 1 brings it all back at once.
	RollbackBatch float64
	Alarms        []string
}

// strategyFor resolves c for a new fleet of newInstances instances (over all production
// variants) and checks the rules that depend on its size, as SageMaker does: a canary is at
// most half of the fleet, a linear step 10 to 50 %, a rolling batch 5 to 50 %, and the
// execution timeout must exceed the sum of the waits.
func strategyFor(c DeploymentConfig, newInstances int) (strategy, error) {
	s := strategy{Kind: TrafficAllAtOnce, Steps: []float64{1}, Alarms: c.Alarms()}
	newInstances = max(newInstances, 1)
	fraction := func(cs *CapacitySize) float64 {
		if cs.Type == CapacityPercent {
			return float64(*cs.Value) / 100
		}
		return float64(*cs.Value) / float64(newInstances)
	}
	describe := func(cs *CapacitySize) string {
		if cs.Type == CapacityPercent {
			return fmt.Sprintf("%d%%", *cs.Value)
		}
		return fmt.Sprintf("%d of %d instances (%.0f%%)", *cs.Value, newInstances, 100*float64(*cs.Value)/float64(newInstances))
	}
	var timeout *int32
	switch {
	case c.BlueGreenUpdatePolicy != nil:
		bg := c.BlueGreenUpdatePolicy
		tr := bg.TrafficRoutingConfiguration
		s.Kind = tr.Type
		s.Wait = seconds(tr.WaitIntervalInSeconds)
		s.TerminationWait = seconds(bg.TerminationWaitInSeconds)
		timeout = bg.MaximumExecutionTimeoutInSeconds
		switch tr.Type {
		case TrafficCanary:
			f := fraction(tr.CanarySize)
			if f > 0.5 {
				return s, errorf(ErrInvalid, "DeploymentConfig: CanarySize %s is more than half of the new fleet; a canary takes at most 50%% of the variant's capacity. Use a smaller size, or CAPACITY_PERCENT for a fleet this small.", describe(tr.CanarySize))
			}
			s.Steps = []float64{f, 1}
		case TrafficLinear:
			f := fraction(tr.LinearStepSize)
			if f < 0.1 || f > 0.5 {
				return s, errorf(ErrInvalid, "DeploymentConfig: LinearStepSize %s is not 10-50%% of the new fleet's capacity.", describe(tr.LinearStepSize))
			}
			s.Steps = linearSteps(f)
		}
	case c.RollingUpdatePolicy != nil:
		r := c.RollingUpdatePolicy
		s.Kind, s.Rolling = StrategyRolling, true
		s.Wait = seconds(r.WaitIntervalInSeconds)
		timeout = r.MaximumExecutionTimeoutInSeconds
		f := fraction(r.MaximumBatchSize)
		if f < 0.05 || f > 0.5 {
			return s, errorf(ErrInvalid, "DeploymentConfig: RollingUpdatePolicy MaximumBatchSize %s is not 5-50%% of the variant's instance count.", describe(r.MaximumBatchSize))
		}
		s.Steps = linearSteps(f)
		s.RollbackBatch = 1
		if rb := r.RollbackMaximumBatchSize; rb != nil {
			s.RollbackBatch = min(1, fraction(rb))
		}
	}
	if timeout != nil {
		s.Timeout = seconds(timeout)
		waits := time.Duration(len(s.Steps))*s.Wait + s.TerminationWait
		if s.Timeout <= waits {
			return s, errorf(ErrInvalid, "DeploymentConfig: MaximumExecutionTimeoutInSeconds %d must be larger than the total of the waits (%d steps × WaitIntervalInSeconds %d + TerminationWaitInSeconds %d = %d seconds).",
				*timeout, len(s.Steps), int(s.Wait/time.Second), int(s.TerminationWait/time.Second), int(waits/time.Second))
		}
	}
	return s, nil
}

// linearSteps returns step, 2·step, … up to 1. The fractions are rounded to a millionth, so
// that 10 steps of 0.1 end at exactly 1.
func linearSteps(step float64) []float64 {
	var out []float64
	for i := 1; ; i++ {
		f := math.Round(float64(i)*step*1e6) / 1e6
		if f >= 1 {
			return append(out, 1)
		}
		out = append(out, f)
	}
}

func seconds(n *int32) time.Duration {
	if n == nil {
		return 0
	}
	return time.Duration(*n) * time.Second
}

// fieldChecker collects violations in the words of SageMaker's ValidationException.
type fieldChecker struct{ msgs []string }

func (v *fieldChecker) add(member string, value any, constraint string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value '%v' at '%s' failed to satisfy constraint: %s", value, member, constraint))
}

func (v *fieldChecker) required(member string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
}

func (v *fieldChecker) enum(member, s string, allowed ...string) {
	if s == "" {
		v.required(member)
		return
	}
	if !slices.Contains(allowed, s) {
		v.add(member, s, "Member must satisfy enum value set: ["+strings.Join(allowed, ", ")+"]")
	}
}

func (v *fieldChecker) intRange(member string, n *int32, required bool, lo, hi int64) {
	switch {
	case n == nil:
		if required {
			v.required(member)
		}
	case int64(*n) < lo:
		v.add(member, *n, fmt.Sprintf("Member must have value greater than or equal to %d", lo))
	case int64(*n) > hi:
		v.add(member, *n, fmt.Sprintf("Member must have value less than or equal to %d", hi))
	}
}

func (v *fieldChecker) capacity(member string, c *CapacitySize) {
	if c == nil {
		return
	}
	v.enum(member+".type", c.Type, CapacityInstanceCount, CapacityPercent)
	v.intRange(member+".value", c.Value, true, 1, math.MaxInt32)
	if c.Type == CapacityPercent && c.Value != nil && *c.Value > 100 {
		v.add(member+".value", *c.Value, "a CAPACITY_PERCENT value must be at most 100")
	}
}

func (v *fieldChecker) err() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return errorf(ErrInvalid, "1 validation error detected: %s", v.msgs[0])
	}
	return errorf(ErrInvalid, "%d validation errors detected: %s", len(v.msgs), strings.Join(v.msgs, "; "))
}
