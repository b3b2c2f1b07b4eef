package hosting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/alarm/alarmtest"
	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/store/storetest"
)

// The strategy engine runs on a fake clock shared with the alarm service: the tests move time
// by hand from one bake to the next, and force alarm states to breach in any phase.

var epoch = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// deployWorld is a world whose controller and alarm service share a fake clock.
type deployWorld struct {
	*world
	clock  *alarmtest.Clock
	alarms *alarm.Service
}

func newDeployWorld(t *testing.T, s *store.Store) *deployWorld {
	t.Helper()
	clock := alarmtest.NewClock(epoch)
	alarms, err := alarm.Open(context.Background(), s, alarm.NewRecorder(clock), alarm.Options{Region: "us-east-1", AccountID: "123456789012", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	w := &deployWorld{world: &world{st: s, router: serving.NewRouter(serving.RouterConfig{}), models: newFakeModels()}, clock: clock, alarms: alarms}
	w.svc = &Service{Store: s, ARNs: testARNs, Images: fakeImages{}, Now: clock.Now, Alarms: alarms}
	w.start(t)
	w.model(t, "blue", "img/blue")
	w.model(t, "green", "img/green")
	w.config(t, "c-blue", variant("main", "blue", 1, 4))
	w.config(t, "c-green", variant("main", "green", 1, 4))
	if _, err := w.svc.CreateEndpoint(context.Background(), "shop", "c-blue", nil, nil); err != nil {
		t.Fatal(err)
	}
	w.waitStatus(t, "shop", StatusInService)
	return w
}

// start runs a controller on the world's store, router, clock and alarms.
func (w *deployWorld) start(t *testing.T) {
	w.ctrl = NewController(ControllerConfig{Store: w.st, ARNs: testARNs, Router: w.router, Models: w.models, Interval: 20 * time.Millisecond,
		Clock: w.clock, Alarms: w.alarms})
	w.svc.Notify = w.ctrl.Notify
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		w.ctrl.Run(ctx)
		close(done)
	}()
	w.stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(w.stop)
}

func eachDeployWorld(t *testing.T, fn func(t *testing.T, w *deployWorld)) {
	storetest.Each(t, func(t *testing.T, s *store.Store) { fn(t, newDeployWorld(t, s)) })
}

// putAlarm creates an alarm on the endpoint variant's 5XX errors and sets it OK.
func (w *deployWorld) putAlarm(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	_, _, err := w.alarms.Put(ctx, alarm.Definition{AlarmName: name, Namespace: alarm.NamespaceSageMaker, MetricName: alarm.MetricInvocation5XXErrors,
		Dimensions: []alarm.Dimension{{Name: alarm.DimEndpointName, Value: "shop"}, {Name: alarm.DimVariantName, Value: "main"}},
		Statistic:  "Sum", Period: 10, EvaluationPeriods: 1, Threshold: 0, ComparisonOperator: alarm.GreaterThanThreshold, ActionsEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.alarms.Force(ctx, name, alarm.StateOK, "test: healthy"); err != nil {
		t.Fatal(err)
	}
}

func (w *deployWorld) update(t *testing.T, config, deploymentConfig string) {
	t.Helper()
	e, err := w.svc.UpdateEndpoint(context.Background(), EndpointUpdate{EndpointName: "shop", EndpointConfigName: config, DeploymentConfig: []byte(deploymentConfig)})
	if err != nil || e.EndpointStatus != StatusUpdating {
		t.Fatalf("UpdateEndpoint: %+v, %v", e, err)
	}
}

// record waits until the endpoint's latest deployment satisfies cond and returns it.
func (w *deployWorld) record(t *testing.T, what string, cond func(r DeploymentRecord) bool) DeploymentRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rs, err := w.svc.Deployments(context.Background(), "shop", 0, 1)
		if err == nil && len(rs) == 1 && cond(rs[0]) {
			return rs[0]
		}
		if time.Now().After(deadline) {
			var last any = err
			if len(rs) > 0 {
				last = fmt.Sprintf("status %s phase %s step %d at %g%%, events %v", rs[0].Status, rs[0].Phase, rs[0].Step, rs[0].NewTrafficPercent, eventTypes(rs[0]))
			}
			t.Fatalf("timed out waiting for the deployment to reach %s; last: %v", what, last)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// baking waits for the bake of step (0-based) and returns the record.
func (w *deployWorld) baking(t *testing.T, step int) DeploymentRecord {
	t.Helper()
	return w.record(t, fmt.Sprintf("the bake of step %d", step+1), func(r DeploymentRecord) bool {
		return r.Phase == PhaseBaking && r.Step == step
	})
}

func (w *deployWorld) terminationWait(t *testing.T) DeploymentRecord {
	t.Helper()
	return w.record(t, "the termination wait", func(r DeploymentRecord) bool { return r.Phase == PhaseTerminationWait })
}

func (w *deployWorld) ended(t *testing.T, status string) DeploymentRecord {
	t.Helper()
	return w.record(t, status, func(r DeploymentRecord) bool { return r.Status == status })
}

// compact is a JSON document as the store keeps it.
func compact(doc string) string {
	var b bytes.Buffer
	json.Compact(&b, []byte(doc))
	return b.String()
}

func eventTypes(r DeploymentRecord) []string {
	var out []string
	for _, e := range r.Events {
		out = append(out, e.Type)
	}
	return out
}

// split invokes the endpoint n times and returns the share answered by the new fleet; any
// failed request fails the test.
func (w *deployWorld) split(t *testing.T, n int) float64 {
	t.Helper()
	green := 0
	for range n {
		_, body, err := w.invoke(t, "shop", "")
		if err != nil {
			t.Fatalf("a request failed during the deployment: %v", err)
		}
		switch body {
		case "img/green":
			green++
		case "img/blue":
		default:
			t.Fatalf("answer from %q", body)
		}
	}
	return float64(green) / float64(n)
}

func wantSplit(t *testing.T, got, want float64, what string) {
	t.Helper()
	// 4000 requests: three standard deviations of a 50 % share are under 2.5 points.
	if got < want-0.05 || got > want+0.05 {
		t.Fatalf("%s: %.1f%% of traffic on the new fleet, want about %.0f%%", what, 100*got, 100*want)
	}
}

// quiet checks that nothing moves while the clock stands still.
func (w *deployWorld) quiet(t *testing.T, step int, phase string) {
	t.Helper()
	time.Sleep(60 * time.Millisecond)
	rs, _ := w.svc.Deployments(context.Background(), "shop", 0, 1)
	if rs[0].Step != step || rs[0].Phase != phase {
		t.Fatalf("without the clock moving, the deployment went on to step %d phase %s", rs[0].Step, rs[0].Phase)
	}
}

const canary = `{"BlueGreenUpdatePolicy":{"TrafficRoutingConfiguration":{"Type":"CANARY","WaitIntervalInSeconds":60,"CanarySize":{"Type":"CAPACITY_PERCENT","Value":25}},
	"TerminationWaitInSeconds":120,"MaximumExecutionTimeoutInSeconds":1800},"AutoRollbackConfiguration":{"Alarms":[{"AlarmName":"shop-5xx"}]}}`

func TestCanaryStepsWaitsAndBakes(t *testing.T) {
	eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
		w.putAlarm(t, "shop-5xx")
		w.update(t, "c-green", canary)

		r := w.baking(t, 0)
		if r.NewTrafficPercent != 25 || !r.PhaseEndsAt.Equal(epoch.Add(60*time.Second)) || r.Strategy != TrafficCanary ||
			fmt.Sprint(r.TrafficSteps) != "[25 100]" || r.OldEndpointConfigName != "c-blue" || r.NewEndpointConfigName != "c-green" {
			t.Fatalf("canary step: %+v", r)
		}
		wantSplit(t, w.split(t, 4000), 0.25, "canary")
		e, _ := w.svc.DescribeEndpoint(context.Background(), "shop")
		if e.EndpointStatus != StatusUpdating || e.EndpointConfigName != "c-blue" || e.PendingDeploymentSummary == nil ||
			e.ProductionVariants[0].VariantStatus[0].Status != "Baking" || !strings.Contains(e.ProductionVariants[0].VariantStatus[0].StatusMessage, "25% of traffic") {
			t.Fatalf("describe during the canary bake: %+v", e)
		}
		if _, err := w.svc.UpdateEndpoint(context.Background(), EndpointUpdate{EndpointName: "shop", EndpointConfigName: "c-blue"}); !errors.Is(err, ErrInvalid) ||
			!strings.Contains(err.Error(), "in-progress") {
			t.Fatalf("UpdateEndpoint during a deployment: %v", err)
		}
		w.quiet(t, 0, PhaseBaking)

		w.clock.Advance(59 * time.Second)
		w.quiet(t, 0, PhaseBaking)
		w.clock.Advance(time.Second)
		r = w.baking(t, 1)
		if r.NewTrafficPercent != 100 || !r.PhaseEndsAt.Equal(epoch.Add(120*time.Second)) {
			t.Fatalf("second step: %+v", r)
		}
		wantSplit(t, w.split(t, 500), 1, "after the canary")
		if running, _ := w.models.servers("img/blue"); running != 1 {
			t.Fatal("the old fleet stopped before the termination wait")
		}

		w.clock.Advance(60 * time.Second)
		r = w.terminationWait(t)
		if !r.PhaseEndsAt.Equal(epoch.Add(240 * time.Second)) {
			t.Fatalf("termination wait ends at %v", r.PhaseEndsAt)
		}
		w.quiet(t, 1, PhaseTerminationWait)
		if running, _ := w.models.servers("img/blue"); running != 1 {
			t.Fatal("the old fleet stopped during the termination wait")
		}
		w.clock.Advance(120 * time.Second)
		r = w.ended(t, DeploymentSucceeded)
		e = w.waitStatus(t, "shop", StatusInService)
		if e.EndpointConfigName != "c-green" || e.FailureReason != "" || e.PendingDeploymentSummary != nil || string(e.LastDeploymentConfig) != compact(canary) ||
			len(e.ProductionVariants[0].VariantStatus) != 0 {
			t.Fatalf("after the deployment: %+v", e)
		}
		waitFor(t, func() bool { r, c := w.models.servers("img/blue"); return r == 0 && c == 1 }, "the old fleet to stop")
		wantSplit(t, w.split(t, 200), 1, "after the deployment")

		want := []string{EventStarted, EventNewFleetHealthy, EventTrafficShifted, EventBaked, EventTrafficShifted, EventBaked, EventTerminationWait, EventOldFleetStopped, EventDeploymentEnded}
		if got := eventTypes(r); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		times := map[int]time.Duration{2: 0, 3: 60 * time.Second, 4: 60 * time.Second, 5: 120 * time.Second, 6: 120 * time.Second, 8: 240 * time.Second}
		for i, d := range times {
			if got := r.Events[i].Time.Sub(epoch); got != d {
				t.Fatalf("event %d (%s) at +%v, want +%v", i, r.Events[i].Type, got, d)
			}
		}
		// The evidence: each bake reports the alarm's state and both fleets' traffic.
		baked := r.Events[3]
		if len(baked.Alarms) != 1 || baked.Alarms[0].AlarmName != "shop-5xx" || baked.Alarms[0].State != "OK" || baked.Alarms[0].Metric != "Sum of Invocation5XXErrors" {
			t.Fatalf("alarms seen after the canary bake: %+v", baked.Alarms)
		}
		if len(baked.Fleets) != 2 || baked.Fleets[0].Fleet != "old" || baked.Fleets[1].Fleet != "new" || baked.Fleets[1].Invocations < 900 || baked.Fleets[0].Invocations < 2800 {
			t.Fatalf("traffic seen during the canary bake: %+v", baked.Fleets)
		}
		if r.EndTime.Sub(epoch) != 240*time.Second || r.Rollback != nil || r.Plan != nil {
			t.Fatalf("record: end %v rollback %+v plan shown %v", r.EndTime, r.Rollback, r.Plan != nil)
		}
	})
}

func TestLinearStepsWaitsAndBakes(t *testing.T) {
	eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
		w.update(t, "c-green", `{"BlueGreenUpdatePolicy":{"TrafficRoutingConfiguration":{"Type":"LINEAR","WaitIntervalInSeconds":30,
			"LinearStepSize":{"Type":"INSTANCE_COUNT","Value":1}}}}`)
		for i, want := range []float64{0.25, 0.5, 0.75, 1} {
			r := w.baking(t, i)
			if r.NewTrafficPercent != 100*want || !r.PhaseEndsAt.Equal(epoch.Add(time.Duration(i+1)*30*time.Second)) {
				t.Fatalf("step %d: %g%% until %v", i+1, r.NewTrafficPercent, r.PhaseEndsAt)
			}
			wantSplit(t, w.split(t, 4000), want, fmt.Sprintf("linear step %d", i+1))
			w.quiet(t, i, PhaseBaking)
			w.clock.Advance(30 * time.Second)
		}
		// No TerminationWaitInSeconds: the old fleet stops right after the last bake.
		r := w.ended(t, DeploymentSucceeded)
		if r.EndTime.Sub(epoch) != 120*time.Second || fmt.Sprint(r.TrafficSteps) != "[25 50 75 100]" {
			t.Fatalf("record: %+v", r)
		}
		w.waitStatus(t, "shop", StatusInService)
	})
}

func TestAllAtOnce(t *testing.T) {
	eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
		w.update(t, "c-green", `{"BlueGreenUpdatePolicy":{"TrafficRoutingConfiguration":{"Type":"ALL_AT_ONCE","WaitIntervalInSeconds":10}}}`)
		w.baking(t, 0)
		wantSplit(t, w.split(t, 300), 1, "all at once")
		w.clock.Advance(10 * time.Second)
		w.ended(t, DeploymentSucceeded)
		// Without a DeploymentConfig an update is all at once with no bake.
		w.update(t, "c-blue", "")
		r := w.record(t, "the second deployment's end", func(r DeploymentRecord) bool {
			return r.NewEndpointConfigName == "c-blue" && r.Status == DeploymentSucceeded
		})
		if r.Strategy != TrafficAllAtOnce || r.NewEndpointConfigName != "c-blue" {
			t.Fatalf("default deployment: %+v", r)
		}
		if e := w.waitStatus(t, "shop", StatusInService); e.EndpointConfigName != "c-blue" {
			t.Fatalf("config %s", e.EndpointConfigName)
		}
	})
}

// An alarm in ALARM rolls back from any phase: every request goes back to the old fleet, the
// new one stops, and the endpoint ends InService on its old config with the reason.
func TestAlarmRollsBackInEveryPhase(t *testing.T) {
	cases := []struct {
		name string
		// reach moves the deployment to the phase; it returns the new fleet's share then.
		reach func(t *testing.T, w *deployWorld) float64
	}{
		{"already in ALARM", func(t *testing.T, w *deployWorld) float64 {
			return -1 // forced before the update
		}},
		{"canary bake", func(t *testing.T, w *deployWorld) float64 { w.baking(t, 0); return 0.25 }},
		{"final bake", func(t *testing.T, w *deployWorld) float64 {
			w.baking(t, 0)
			w.clock.Advance(60 * time.Second)
			w.baking(t, 1)
			return 1
		}},
		{"termination wait", func(t *testing.T, w *deployWorld) float64 {
			w.baking(t, 0)
			w.clock.Advance(60 * time.Second)
			w.baking(t, 1)
			w.clock.Advance(60 * time.Second)
			w.terminationWait(t)
			return 1
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
				ctx := context.Background()
				w.putAlarm(t, "shop-5xx")
				w.putAlarm(t, "shop-latency")
				dc := strings.Replace(canary, `{"AlarmName":"shop-5xx"}`, `{"AlarmName":"shop-5xx"},{"AlarmName":"shop-latency"}`, 1)
				early := tc.name == "already in ALARM"
				if early {
					w.alarms.Force(ctx, "shop-latency", alarm.StateAlarm, "test: breaching before the update")
				}
				w.update(t, "c-green", dc)
				share := tc.reach(t, w)
				if !early {
					wantSplit(t, w.split(t, 2000), share, "before the breach")
					if err := w.alarms.Force(ctx, "shop-latency", alarm.StateAlarm, "Threshold Crossed: test breach"); err != nil {
						t.Fatal(err)
					}
				}
				r := w.ended(t, DeploymentRolledBack)
				wantSplit(t, w.split(t, 500), 0, "after the rollback")
				e := w.waitStatus(t, "shop", StatusInService)
				if e.EndpointConfigName != "c-blue" || !strings.Contains(e.FailureReason, "Alarm shop-latency entered ALARM") ||
					e.PendingDeploymentSummary != nil || string(e.LastDeploymentConfig) != compact(dc) {
					t.Fatalf("after the rollback: %+v", e)
				}
				if early {
					// Nothing starts while an alarm is already firing.
					if r, c := w.models.servers("img/green"); r != 0 || c != 0 {
						t.Fatalf("the new fleet started (%d running, %d stopped) while an alarm was firing", r, c)
					}
				} else {
					waitFor(t, func() bool { r, c := w.models.servers("img/green"); return r == 0 && c == 1 }, "the new fleet to stop")
				}
				if running, _ := w.models.servers("img/blue"); running != 1 {
					t.Fatal("the old fleet is not running")
				}
				if r.Rollback == nil || r.Rollback.Trigger != "shop-latency" || r.FailureReason != e.FailureReason {
					t.Fatalf("rollback evidence: %+v, reason %q", r.Rollback, r.FailureReason)
				}
				if early {
					if r.Rollback.NewTrafficPercent != 0 || !strings.Contains(r.FailureReason, "before any traffic moved") {
						t.Fatalf("early breach: %+v %q", r.Rollback, r.FailureReason)
					}
				} else if r.Rollback.NewTrafficPercent != 100*share || r.Rollback.ReactionMillis < 0 || r.Rollback.ReactionMillis > 1000 {
					t.Fatalf("rollback evidence: %+v", r.Rollback)
				}
				types := eventTypes(r)
				tail := []string{EventRollbackStarted, EventNewFleetStopped, EventDeploymentEnded}
				if early {
					tail = []string{EventStarted, EventRollbackStarted, EventDeploymentEnded}
				}
				n := len(types)
				if fmt.Sprint(types[n-3:]) != fmt.Sprint(tail) {
					t.Fatalf("events %v, want them to end with %v", types, tail)
				}
				rb := r.Events[n-2]
				if !early {
					rb = r.Events[n-3]
				}
				var firing []string
				for _, a := range rb.Alarms {
					if a.State == "ALARM" {
						firing = append(firing, a.AlarmName)
					}
				}
				if fmt.Sprint(firing) != "[shop-latency]" {
					t.Fatalf("alarms recorded at the rollback: %+v", rb.Alarms)
				}
				// The endpoint went through RollingBack, announced on the outbox.
				evs, _ := w.st.EventsAfter(ctx, 0, 1000)
				var statuses []string
				for _, ev := range evs {
					if ev.DetailType == EndpointStateChange {
						var sc StateChange
						if json.Unmarshal(ev.Detail, &sc) == nil {
							statuses = append(statuses, sc.EndpointStatus)
						}
					}
				}
				if got := strings.Join(statuses, ","); !strings.HasSuffix(got, "Updating,RollingBack,InService") {
					t.Fatalf("status changes %s", got)
				}
				// A rollback is not the end of the endpoint: it can be updated again.
				w.alarms.Force(ctx, "shop-latency", alarm.StateOK, "test: recovered")
				w.update(t, "c-green", allAtOnce)
				w.ended(t, DeploymentSucceeded)
			})
		})
	}
}

func TestLinearRollsBackMidway(t *testing.T) {
	eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
		w.putAlarm(t, "shop-5xx")
		w.update(t, "c-green", `{"BlueGreenUpdatePolicy":{"TrafficRoutingConfiguration":{"Type":"LINEAR","WaitIntervalInSeconds":30,
			"LinearStepSize":{"Type":"CAPACITY_PERCENT","Value":20}}},"AutoRollbackConfiguration":{"Alarms":[{"AlarmName":"shop-5xx"}]}}`)
		w.baking(t, 0)
		w.clock.Advance(30 * time.Second)
		w.baking(t, 1)
		w.clock.Advance(30 * time.Second)
		w.baking(t, 2)
		w.clock.Advance(10 * time.Second)
		w.alarms.Force(context.Background(), "shop-5xx", alarm.StateAlarm, "Threshold Crossed: test breach")
		r := w.ended(t, DeploymentRolledBack)
		if r.Rollback.NewTrafficPercent != 60 || r.Rollback.AlarmFiredAt.Sub(epoch) != 70*time.Second {
			t.Fatalf("rollback at step 3: %+v", r.Rollback)
		}
		wantSplit(t, w.split(t, 300), 0, "after the rollback")
	})
}

// A new fleet that never becomes healthy fails the update; the old fleet never stops serving.
func TestUnhealthyNewFleet(t *testing.T) {
	eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
		w.putAlarm(t, "shop-5xx")
		w.model(t, "broken", "img/broken")
		w.config(t, "c-broken", variant("main", "broken", 1, 4))
		w.update(t, "c-broken", canary)
		r := w.ended(t, DeploymentFailed)
		e := w.waitStatus(t, "shop", StatusInService)
		if e.EndpointConfigName != "c-blue" || !strings.Contains(e.FailureReason, "did not become healthy") || r.FailureReason != e.FailureReason {
			t.Fatalf("after a failed start: %+v / %q", e, r.FailureReason)
		}
		if got := eventTypes(r); fmt.Sprint(got) != fmt.Sprint([]string{EventStarted, EventNewFleetFailed, EventDeploymentEnded}) {
			t.Fatalf("events %v", got)
		}
		wantSplit(t, w.split(t, 200), 0, "after a failed update")
	})
}

// MaximumExecutionTimeoutInSeconds bounds the start of the new fleet and the bakes.
func TestExecutionTimeout(t *testing.T) {
	const timeout = `{"BlueGreenUpdatePolicy":{"TrafficRoutingConfiguration":{"Type":"ALL_AT_ONCE","WaitIntervalInSeconds":300},"MaximumExecutionTimeoutInSeconds":600}}`
	eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
		w.model(t, "slow", "img/slow")
		w.config(t, "c-slow", variant("main", "slow", 1, 1))

		// The new fleet is still starting when the time runs out: the update fails.
		w.update(t, "c-slow", timeout)
		w.record(t, "provisioning", func(r DeploymentRecord) bool { return r.Phase == PhaseProvisioning })
		w.clock.Advance(599 * time.Second)
		w.quiet(t, -1, PhaseProvisioning)
		w.clock.Advance(time.Second)
		r := w.ended(t, DeploymentFailed)
		if e := w.waitStatus(t, "shop", StatusInService); !strings.Contains(e.FailureReason, "MaximumExecutionTimeoutInSeconds") || e.EndpointConfigName != "c-blue" {
			t.Fatalf("after the timeout: %+v", e)
		}
		if r.EndTime.Sub(epoch) != 600*time.Second {
			t.Fatalf("ended at +%v", r.EndTime.Sub(epoch))
		}

		// The new fleet takes 400 s of the 600 to start; its 300 s bake is cut at 600 s and the
		// deployment rolls back.
		start := w.clock.Now()
		w.update(t, "c-slow", timeout)
		w.record(t, "provisioning", func(r DeploymentRecord) bool { return r.Phase == PhaseProvisioning && r.Status == DeploymentInProgress })
		w.clock.Advance(400 * time.Second)
		close(w.models.release)
		w.baking(t, 0)
		w.clock.Advance(199 * time.Second)
		w.quiet(t, 0, PhaseBaking)
		w.clock.Advance(time.Second)
		r = w.ended(t, DeploymentRolledBack)
		if r.Rollback.Trigger != "timeout" || r.EndTime.Sub(start) != 600*time.Second {
			t.Fatalf("rollback on timeout: %+v at +%v", r.Rollback, r.EndTime.Sub(start))
		}
		wantSplit(t, w.split(t, 200), 0, "after the timeout")
	})
}

// DeleteEndpoint during a deployment stops it: both fleets stop, the record says why.
func TestDeleteDuringDeployment(t *testing.T) {
	eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
		w.update(t, "c-green", canary[:strings.Index(canary, `,"AutoRollbackConfiguration"`)]+"}")
		w.baking(t, 0)
		if err := w.svc.DeleteEndpoint(context.Background(), "shop"); err != nil {
			t.Fatal(err)
		}
		w.waitStatus(t, "shop", "")
		r := w.ended(t, DeploymentStopped)
		if !strings.Contains(r.FailureReason, "deleted") {
			t.Fatalf("record: %+v", r)
		}
		waitFor(t, func() bool {
			g, _ := w.models.servers("img/green")
			b, _ := w.models.servers("img/blue")
			return g == 0 && b == 0
		}, "both fleets to stop")
		if w.router.Serves("shop") {
			t.Fatal("the router still serves the deleted endpoint")
		}
	})
}

// A restarted server resumes a deployment mid-bake: the old fleet comes back, the new one
// starts again, the step's split is restored and its bake ends when it would have.
func TestResumeAfterRestart(t *testing.T) {
	eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
		w.update(t, "c-green", canary[:strings.Index(canary, `,"AutoRollbackConfiguration"`)]+"}")
		w.baking(t, 0)
		w.clock.Advance(20 * time.Second)
		w.stop()
		waitFor(t, func() bool {
			g, _ := w.models.servers("img/green")
			b, _ := w.models.servers("img/blue")
			return g == 0 && b == 0
		}, "the fleets to stop")
		w.router = serving.NewRouter(serving.RouterConfig{})
		w.start(t)
		r := w.record(t, "the resumed bake", func(r DeploymentRecord) bool {
			return len(r.Events) > 0 && r.Events[len(r.Events)-1].Type == EventNewFleetHealthy && r.Events[len(r.Events)-2].Type == EventResumed
		})
		waitFor(t, func() bool { return w.router.Serves("shop") }, "the endpoint to be served again")
		time.Sleep(20 * time.Millisecond)
		wantSplit(t, w.split(t, 4000), 0.25, "the resumed canary")
		if r.Step != 0 || !r.PhaseEndsAt.Equal(epoch.Add(60*time.Second)) {
			t.Fatalf("resumed at %+v", r)
		}
		w.clock.Advance(40 * time.Second)
		w.baking(t, 1)
		w.clock.Advance(60 * time.Second)
		w.terminationWait(t)
		w.clock.Advance(120 * time.Second)
		w.ended(t, DeploymentSucceeded)
		if e := w.waitStatus(t, "shop", StatusInService); e.EndpointConfigName != "c-green" {
			t.Fatalf("after the resumed deployment: %+v", e)
		}
	})
}

// server returns the latest fake server started for image.
func (w *deployWorld) server(image string) *fakeServer {
	w.models.mu.Lock()
	defer w.models.mu.Unlock()
	var out *fakeServer
	for _, s := range w.models.started {
		if s.image == image {
			out = s
		}
	}
	return out
}

func countEvents(r DeploymentRecord, typ string) int {
	n := 0
	for _, e := range r.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// A rolling update grows the new fleet batch by batch, each batch taking its share of traffic,
// and shrinks the old fleet as it goes, down to one instance kept for a rollback.
func TestRollingUpdate(t *testing.T) {
	eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
		w.update(t, "c-green", `{"RollingUpdatePolicy":{"MaximumBatchSize":{"Type":"INSTANCE_COUNT","Value":1},"WaitIntervalInSeconds":30}}`)
		blue := w.server("img/blue")
		for i, want := range []float64{0.25, 0.5, 0.75, 1} {
			r := w.baking(t, i)
			if r.Strategy != StrategyRolling || r.NewTrafficPercent != 100*want {
				t.Fatalf("batch %d: %+v", i+1, r)
			}
			if got := w.server("img/green").replicas.Load(); got != int32(i+1) {
				t.Fatalf("batch %d: the new fleet has %d instances, want %d", i+1, got, i+1)
			}
			if got, want := blue.replicas.Load(), int32(max(1, 3-i)); got != want {
				t.Fatalf("batch %d: the old fleet has %d instances, want %d", i+1, got, want)
			}
			wantSplit(t, w.split(t, 4000), want, fmt.Sprintf("batch %d", i+1))
			w.clock.Advance(30 * time.Second)
		}
		r := w.ended(t, DeploymentSucceeded)
		if n := countEvents(r, EventNewFleetResized); n != 3 {
			t.Fatalf("%d new-fleet resize events, want 3: %v", n, eventTypes(r))
		}
		if n := countEvents(r, EventOldFleetResized); n != 3 {
			t.Fatalf("%d old-fleet resize events, want 3 (4 → 3 → 2 → 1): %v", n, eventTypes(r))
		}
		e := w.waitStatus(t, "shop", StatusInService)
		if *e.ProductionVariants[0].CurrentInstanceCount != 4 || e.EndpointConfigName != "c-green" {
			t.Fatalf("after the rolling update: %+v", e.ProductionVariants[0])
		}
	})
}

// A rolling update rolled back midway puts all traffic on the old fleet at once, then grows
// the old fleet back to its size RollbackMaximumBatchSize at a time.
func TestRollingUpdateRollsBack(t *testing.T) {
	eachDeployWorld(t, func(t *testing.T, w *deployWorld) {
		w.putAlarm(t, "shop-5xx")
		w.update(t, "c-green", `{"RollingUpdatePolicy":{"MaximumBatchSize":{"Type":"INSTANCE_COUNT","Value":1},"WaitIntervalInSeconds":30,
			"RollbackMaximumBatchSize":{"Type":"CAPACITY_PERCENT","Value":50}},"AutoRollbackConfiguration":{"Alarms":[{"AlarmName":"shop-5xx"}]}}`)
		blue := w.server("img/blue")
		w.baking(t, 0)
		w.clock.Advance(30 * time.Second)
		w.baking(t, 1)
		if got := blue.replicas.Load(); got != 2 {
			t.Fatalf("the old fleet has %d instances at half the traffic, want 2", got)
		}
		w.alarms.Force(context.Background(), "shop-5xx", alarm.StateAlarm, "Threshold Crossed: test breach")
		r := w.ended(t, DeploymentRolledBack)
		if r.Rollback == nil || r.Rollback.NewTrafficPercent != 50 || r.RollbackBatchPercent != 50 {
			t.Fatalf("rollback %+v (batch %g%%)", r.Rollback, r.RollbackBatchPercent)
		}
		if got := blue.replicas.Load(); got != 4 {
			t.Fatalf("the old fleet has %d instances after the rollback, want all 4 back", got)
		}
		// 4 → 3 → 2 on the way, then 2 → 4 in one batch of 50%.
		if n := countEvents(r, EventOldFleetResized); n != 3 {
			t.Fatalf("%d old-fleet resize events, want 3: %v", n, eventTypes(r))
		}
		wantSplit(t, w.split(t, 300), 0, "after the rollback")
		if e := w.waitStatus(t, "shop", StatusInService); e.EndpointConfigName != "c-blue" || *e.ProductionVariants[0].CurrentInstanceCount != 4 {
			t.Fatalf("after the rollback: %s, %+v", e.EndpointConfigName, e.ProductionVariants[0])
		}
	})
}

// Shadows keep their sampling rate while production weights are split between two fleets, and
// follow the new config once it takes traffic.
func TestSplitTableShadows(t *testing.T) {
	fleet := func(prodWeight, shadowWeight float64) *Deployment {
		p := PlanVariant{Name: "main", Weight: prodWeight, Instances: 1}
		s := PlanVariant{Name: "shadow", Weight: shadowWeight, Instances: 1}
		return &Deployment{Plan: Plan{Variants: []PlanVariant{p}, Shadows: []PlanVariant{s}},
			Fleets: []*Fleet{{Variant: p, Server: &fakeServer{}}, {Variant: s, Shadow: true, Server: &fakeServer{}}}}
	}
	blue, green := fleet(2, 1), fleet(1, 1)
	var om, nm fleetMeter
	for _, tc := range []struct {
		f             float64
		routes        int
		shadowWeight  float64
		shadowFleetOf *Deployment
	}{
		{0, 1, 0.5, blue},
		{0.25, 2, 1, green},
		{1, 1, 1, green},
	} {
		tb := splitTable(blue, green, tc.f, &om, &nm)
		total := 0.0
		for _, r := range tb.Routes {
			total += r.Weight
		}
		if len(tb.Routes) != tc.routes || math.Abs(total-1) > 1e-9 || len(tb.Shadows) != 1 || tb.Shadows[0].Weight != tc.shadowWeight ||
			tb.Shadows[0].Server != tc.shadowFleetOf.Fleets[1].Server {
			t.Fatalf("split at %g: %+v", tc.f, tb)
		}
	}
}
