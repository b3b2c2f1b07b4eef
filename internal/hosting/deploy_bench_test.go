package hosting

import (
	"context"
	"testing"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/serving"
)

// BenchmarkRouting measures the router's work per invocation (table lookup, weighted pick,
// model call, per-variant metrics) for a steady endpoint with one fleet and for one mid-shift
// with two fleets under its variant, each counted by a deployment's fleet meter. The model is
// a one-tree native XGBoost predictor, so the router's share is what is measured.
func BenchmarkRouting(b *testing.B) {
	pred, err := xgboost.NewPredictor(&xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: 3,
		Trees: []xgboost.Tree{{LeftChildren: []int32{1, -1, -1}, RightChildren: []int32{2, -1, -1}, SplitIndices: []int32{0, 0, 0},
			SplitConditions: []float32{0.5, -1, 1}, DefaultLeft: []bool{true, false, false}}}})
	if err != nil {
		b.Fatal(err)
	}
	fleet := func(name string) *Deployment {
		v := PlanVariant{Name: "AllTraffic", Model: name, Weight: 1, Instances: 1}
		return &Deployment{Endpoint: "ep", Plan: Plan{Variants: []PlanVariant{v}}, Fleets: []*Fleet{{Variant: v, Server: serving.NewNativeServer(pred, "", 1)}}}
	}
	blue, green := fleet("blue"), fleet("green")
	var oldM, newM fleetMeter
	tables := []struct {
		name  string
		table serving.RoutingTable
	}{
		{"one-fleet", blue.RoutingTable()},
		{"two-fleets", splitTable(blue, green, 0.5, &oldM, &newM)},
	}
	for _, tc := range tables {
		b.Run(tc.name, func(b *testing.B) {
			r := serving.NewRouter(serving.RouterConfig{})
			if err := r.Publish("ep", tc.table); err != nil {
				b.Fatal(err)
			}
			req := &serving.Request{Body: []byte("0.25,1.5,-3.75"), ContentType: "text/csv"}
			resp := &serving.Response{Body: make([]byte, 0, 64)}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp.Reset()
				call, err := r.Invoke(ctx, "ep", req, resp)
				if err != nil {
					b.Fatal(err)
				}
				call.Finish(0)
			}
		})
	}
}
