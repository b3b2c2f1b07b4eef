package hosting

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/events"
	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
)

const allAtOnce = `{"BlueGreenUpdatePolicy":{"TrafficRoutingConfiguration":{"Type":"ALL_AT_ONCE","WaitIntervalInSeconds":0}}}`

func TestEndpointLifecycle(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		w.model(t, "blue", "img/blue")
		w.model(t, "green", "img/green")
		w.config(t, "c-blue", variant("main", "blue", 3, 2), variant("canary", "blue", 1, 1))
		w.config(t, "c-green", variant("main", "green", 1, 1))

		// Creating → InService, with variants running and routed.
		if _, err := w.svc.CreateEndpoint(ctx, "shop", "c-blue", nil, []Tag{{Key: "team", Value: "ml"}}); err != nil {
			t.Fatal(err)
		}
		e := w.waitStatus(t, "shop", StatusInService)
		v := e.ProductionVariants[0]
		if e.EndpointConfigName != "c-blue" || v.VariantName != "main" || *v.CurrentWeight != 3 || *v.CurrentInstanceCount != 2 ||
			v.DeployedImages[0].SpecifiedImage != "img/blue" || len(v.VariantStatus) != 0 || e.FailureReason != "" {
			t.Fatalf("InService endpoint: %+v", e)
		}
		if variant, body, err := w.invoke(t, "shop", "canary"); err != nil || variant != "canary" || body != "img/blue" {
			t.Fatalf("invoke: %s %s %v", variant, body, err)
		}
		if running, _ := w.models.servers("img/blue"); running != 2 {
			t.Fatalf("%d blue fleets running, want 2 (one per variant)", running)
		}

		// UpdateEndpoint: Updating with a pending deployment → InService on the new config;
		// the old fleets stop.
		u, err := w.svc.UpdateEndpoint(ctx, EndpointUpdate{EndpointName: "shop", EndpointConfigName: "c-green", DeploymentConfig: []byte(allAtOnce)})
		if err != nil || u.EndpointStatus != StatusUpdating || u.PendingDeploymentSummary == nil || u.PendingDeploymentSummary.EndpointConfigName != "c-green" || u.EndpointConfigName != "c-blue" {
			t.Fatalf("UpdateEndpoint: %+v, %v", u, err)
		}
		e = w.waitStatus(t, "shop", StatusInService)
		if e.EndpointConfigName != "c-green" || e.PendingDeploymentSummary != nil || len(e.ProductionVariants) != 1 || string(e.LastDeploymentConfig) != allAtOnce {
			t.Fatalf("after update: %+v", e)
		}
		if _, body, _ := w.invoke(t, "shop", ""); body != "img/green" {
			t.Fatalf("after update the endpoint answers from %s", body)
		}
		waitFor(t, func() bool { r, c := w.models.servers("img/blue"); return r == 0 && c == 2 }, "old fleets to stop")
		if err := w.svc.DeleteEndpointConfig(ctx, "c-blue"); err != nil {
			t.Fatalf("the old config is no longer in use: %v", err)
		}

		// UpdateEndpointWeightsAndCapacities scales and reweights in place.
		w.config(t, "c-two", variant("a", "blue", 1, 1), variant("b", "green", 1, 1))
		w.svc.UpdateEndpoint(ctx, EndpointUpdate{EndpointName: "shop", EndpointConfigName: "c-two"})
		w.waitStatus(t, "shop", StatusInService)
		u, err = w.svc.UpdateWeightsAndCapacities(ctx, "shop", []DesiredWeightAndCapacity{{VariantName: "a", DesiredWeight: f64(0), DesiredInstanceCount: i32(3)}})
		if err != nil || u.EndpointStatus != StatusUpdating || *u.ProductionVariants[0].DesiredWeight != 0 || *u.ProductionVariants[0].CurrentWeight != 1 {
			t.Fatalf("UpdateWeightsAndCapacities: %+v, %v", u, err)
		}
		e = w.waitStatus(t, "shop", StatusInService)
		if a := e.ProductionVariants[0]; *a.CurrentWeight != 0 || *a.CurrentInstanceCount != 3 {
			t.Fatalf("after reweighting: %+v", a)
		}
		for range 50 {
			if variant, _, _ := w.invoke(t, "shop", ""); variant != "b" {
				t.Fatalf("variant %s with weight 0 got traffic", variant)
			}
		}
		d, _ := w.ctrl.Deployment(e.EndpointArn)
		if st := d.Fleets[0].Server.Status(); st.Replicas != 3 {
			t.Fatalf("variant a has %d replicas, want 3", st.Replicas)
		}

		// DeleteEndpoint: Deleting → gone, fleets stopped, routes removed, tags removed.
		if err := w.svc.DeleteEndpoint(ctx, "shop"); err != nil {
			t.Fatal(err)
		}
		w.waitStatus(t, "shop", "")
		if w.router.Serves("shop") {
			t.Fatal("the router still serves a deleted endpoint")
		}
		waitFor(t, func() bool { r, _ := w.models.servers("img/green"); return r == 0 }, "fleets of the deleted endpoint to stop")
		if tags, _ := w.st.Tags(ctx, e.EndpointArn, "", 10); len(tags) != 0 {
			t.Fatalf("tags survived: %v", tags)
		}

		// Every status change was announced.
		log := events.Log{Store: w.st}
		evs, _ := log.After(ctx, 0, 100)
		var statuses []string
		for _, ev := range evs {
			if ev.DetailType == EndpointStateChange {
				statuses = append(statuses, string(ev.Detail))
			}
		}
		seq := []string{`"Creating"`, `"InService"`, `"Updating"`, `"InService"`, `"Updating"`, `"InService"`, `"Updating"`, `"InService"`, `"Deleting"`}
		if len(statuses) != len(seq) {
			t.Fatalf("%d state-change events, want %d", len(statuses), len(seq))
		}
		for i, s := range seq {
			if !strings.Contains(statuses[i], `"EndpointStatus":`+s) {
				t.Fatalf("event %d is %s, want status %s", i, statuses[i], s)
			}
		}
	})
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEndpointFailures(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		w.model(t, "good", "img/good")
		w.model(t, "bad", "img/broken")
		w.config(t, "c-good", variant("v", "good", 1, 1))
		w.config(t, "c-bad", variant("v", "bad", 1, 1))
		w.config(t, "c-mixed", variant("ok", "good", 1, 1), variant("ko", "bad", 1, 1))

		// A model that cannot start fails the endpoint, and nothing is left running.
		w.svc.CreateEndpoint(ctx, "doomed", "c-mixed", nil, nil)
		e := w.waitStatus(t, "doomed", StatusFailed)
		if !strings.Contains(e.FailureReason, "variant ko: serving: model bad: container primary exited with code 1") {
			t.Fatalf("FailureReason %q", e.FailureReason)
		}
		if w.router.Serves("doomed") {
			t.Fatal("a failed endpoint is routed")
		}
		waitFor(t, func() bool { r, _ := w.models.servers("img/good"); return r == 0 }, "the healthy variant's fleet to stop")
		_, err := w.svc.UpdateEndpoint(ctx, EndpointUpdate{EndpointName: "doomed", EndpointConfigName: "c-good"})
		wantKind(t, err, ErrInvalid, "DeleteEndpoint is the only operation allowed")
		w.svc.DeleteEndpoint(ctx, "doomed")
		w.waitStatus(t, "doomed", "")

		// A failed update keeps the endpoint InService on its previous deployment.
		w.svc.CreateEndpoint(ctx, "steady", "c-good", nil, nil)
		w.waitStatus(t, "steady", StatusInService)
		w.svc.UpdateEndpoint(ctx, EndpointUpdate{EndpointName: "steady", EndpointConfigName: "c-bad"})
		deadline := time.Now().Add(10 * time.Second)
		for {
			e, _ = w.svc.DescribeEndpoint(ctx, "steady")
			if e.EndpointStatus == StatusInService && e.FailureReason != "" || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if e.EndpointStatus != StatusInService || e.EndpointConfigName != "c-good" || !strings.Contains(e.FailureReason, "exited with code 1") || e.PendingDeploymentSummary != nil {
			t.Fatalf("after a failed update: %+v", e)
		}
		if _, body, err := w.invoke(t, "steady", ""); err != nil || body != "img/good" {
			t.Fatalf("the endpoint stopped serving its old deployment: %s %v", body, err)
		}
		if err := w.svc.DeleteEndpointConfig(ctx, "c-bad"); err != nil {
			t.Fatalf("the config of a failed update is not in use: %v", err)
		}
	})
}

// A server restart brings InService endpoints back from their recorded plans, even when
// their models were deleted meanwhile.
func TestEndpointsComeBackAfterRestart(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		w.model(t, "m", "img/m")
		w.config(t, "c", variant("v", "m", 1, 2))
		w.svc.CreateEndpoint(ctx, "keep", "c", nil, nil)
		e := w.waitStatus(t, "keep", StatusInService)
		w.stop()
		if running, _ := w.models.servers("img/m"); running != 0 {
			t.Fatalf("%d fleets still running after the controller stopped", running)
		}
		if err := w.svc.DeleteModel(ctx, "m"); err != nil {
			t.Fatal(err)
		}

		w.router = serving.NewRouter(serving.RouterConfig{})
		w.startController(t)
		waitFor(t, func() bool { return w.router.Serves("keep") }, "the endpoint to be served again")
		if _, body, err := w.invoke(t, "keep", "v"); err != nil || body != "img/m" {
			t.Fatalf("after restart: %s %v", body, err)
		}
		d, ok := w.ctrl.Deployment(e.EndpointArn)
		if !ok || d.Fleets[0].Server.Status().Replicas != 2 {
			t.Fatalf("restored deployment: %+v", d)
		}
		if got := w.waitStatus(t, "keep", StatusInService); !got.LastModifiedTime.Equal(e.LastModifiedTime) {
			t.Fatal("restoring rewrote the endpoint")
		}
	})
}

// A request that arrives while the controller works wins: the controller does not overwrite it.
func TestDeleteWhileCreating(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		w.model(t, "m", "img/slow")
		w.config(t, "c", variant("v", "m", 1, 1))
		w.svc.CreateEndpoint(ctx, "racy", "c", nil, nil)
		waitFor(t, func() bool {
			w.ctrl.mu.Lock()
			defer w.ctrl.mu.Unlock()
			return len(w.ctrl.busy) > 0
		}, "the controller to start creating")
		if err := w.svc.DeleteEndpoint(ctx, "racy"); err != nil {
			t.Fatal(err)
		}
		close(w.models.release)
		w.waitStatus(t, "racy", "")
		waitFor(t, func() bool { r, _ := w.models.servers("img/slow"); return r == 0 }, "the fleet to stop")
		if _, err := w.st.Endpoint(ctx, testARNs.For(KindEndpoint, "racy")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("row: %v", err)
		}
	})
}
