package train

import (
	"strings"
	"testing"
)

func TestParseParams(t *testing.T) {
	tests := []struct {
		name    string
		hps     map[string]string
		check   func(t *testing.T, p Params)
		wantErr string
	}{
		{
			name: "sagemaker abalone values as plain strings",
			hps: map[string]string{"objective": "reg:linear", "num_round": "50", "max_depth": "5", "eta": "0.2",
				"gamma": "4", "min_child_weight": "6", "subsample": "0.7"},
			check: func(t *testing.T, p Params) {
				if p.Objective != "reg:linear" || p.NumRound != 50 || p.MaxDepth != 5 || p.Eta != 0.2 ||
					p.Gamma != 4 || p.MinChildWeight != 6 || p.Subsample != 0.7 {
					t.Errorf("got %+v", p)
				}
				if p.Lambda != 1 || p.MaxBin != 256 || p.BaseScore != 0.5 || p.ColsampleByTree != 1 {
					t.Errorf("defaults not applied: %+v", p)
				}
			},
		},
		{
			name: "json-encoded values as the SDK writes them",
			hps:  map[string]string{"num_round": `"5"`, "objective": `"binary:logistic"`, "eval_metric": `"auc"`, "sagemaker_program": `"train.py"`},
			check: func(t *testing.T, p Params) {
				if p.NumRound != 5 || p.Objective != "binary:logistic" || len(p.EvalMetrics) != 1 || p.EvalMetrics[0] != "auc" {
					t.Errorf("got %+v", p)
				}
			},
		},
		{
			name: "aliases, integer written as float, metric list",
			hps: map[string]string{"num_round": "10.0", "learning_rate": "0.1", "reg_lambda": "2", "reg_alpha": "0.5",
				"min_split_loss": "1", "eval_metric": "rmse,mae", "max_bin": "64", "seed": "7", "_tuning_objective_metric": "validation:rmse"},
			check: func(t *testing.T, p Params) {
				if p.NumRound != 10 || p.Eta != 0.1 || p.Lambda != 2 || p.Alpha != 0.5 || p.Gamma != 1 ||
					strings.Join(p.EvalMetrics, ",") != "rmse,mae" || p.MaxBin != 64 || p.Seed != 7 {
					t.Errorf("got %+v", p)
				}
			},
		},
		{
			name: "poisson gets XGBoost's max_delta_step",
			hps:  map[string]string{"num_round": "1", "objective": "count:poisson"},
			check: func(t *testing.T, p Params) {
				if p.MaxDeltaStep != 0.7 {
					t.Errorf("max_delta_step = %v, want 0.7", p.MaxDeltaStep)
				}
			},
		},
		{name: "num_round required", hps: map[string]string{"max_depth": "3"}, wantErr: "num_round is required"},
		{name: "unknown objective", hps: map[string]string{"num_round": "1", "objective": "reg:cubic"}, wantErr: `unknown objective "reg:cubic"`},
		{name: "multi-class without num_class", hps: map[string]string{"num_round": "1", "objective": "multi:softprob"}, wantErr: "needs num_class >= 2 (num_class is missing)"},
		{name: "num_class with a binary objective", hps: map[string]string{"num_round": "1", "num_class": "3"}, wantErr: "needs a multi-class objective"},
		{name: "not a number", hps: map[string]string{"num_round": "1", "eta": "fast"}, wantErr: `eta="fast": not a number`},
		{name: "unknown hyperparameter", hps: map[string]string{"num_round": "1", "depth": "3"}, wantErr: "depth=\"3\": unknown hyperparameter"},
		{name: "subsample out of range", hps: map[string]string{"num_round": "1", "subsample": "1.5"}, wantErr: "subsample must be in (0, 1]"},
		{name: "unknown metric", hps: map[string]string{"num_round": "1", "eval_metric": "r2"}, wantErr: `unknown eval_metric "r2"`},
		{name: "unsupported booster", hps: map[string]string{"num_round": "1", "booster": "gblinear"}, wantErr: "only booster gbtree"},
		{name: "logistic base_score", hps: map[string]string{"num_round": "1", "objective": "binary:logistic", "base_score": "1"}, wantErr: "base_score must be in (0, 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseParams(tt.hps)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}
