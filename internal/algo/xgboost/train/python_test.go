package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

// The tests in this file run real XGBoost 1.7 (Debian's python3-xgboost) through
// testdata/xgb_compare.py. They are skipped unless SLUICE_TEST_PYTHON names the
// interpreter.

// xgbTrees decodes the trees of a model XGBoost saved as JSON.
func xgbTrees(t *testing.T, raw json.RawMessage) []xgboost.Tree {
	t.Helper()
	m, err := xgboost.Parse(raw)
	if err != nil {
		t.Fatalf("parse XGBoost's model: %v", err)
	}
	return m.Trees
}

func writeModel(t *testing.T, m *xgboost.Model, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// xgbParams turns SageMaker hyperparameters into the Python dict XGBoost takes.
func xgbParams(hps map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range hps {
		if k == "num_round" {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[k] = f
		} else {
			out[k] = v
		}
	}
	return out
}

// TestModelsLoadInXGBoost trains every objective on data with missing values, loads the
// written model in real XGBoost, and checks that XGBoost predicts what our trees predict
// (max abs diff <= 1e-5). With subsampling off it also trains real XGBoost with the same
// hyperparameters and expects the same trees.
func TestModelsLoadInXGBoost(t *testing.T) {
	py := pythonXGBoost(t)
	type variant struct {
		name      string
		objective string
		numClass  int
		extra     map[string]string
		weights   bool
	}
	var variants []variant
	for _, oc := range objectiveCases {
		variants = append(variants, variant{name: oc.objective, objective: oc.objective, numClass: oc.numClass})
	}
	variants = append(variants,
		variant{name: "instance weights", objective: "reg:squarederror", weights: true},
		variant{name: "weighted multi-class", objective: "multi:softprob", numClass: 3, weights: true},
		variant{name: "scale_pos_weight", objective: "binary:logistic", extra: map[string]string{"scale_pos_weight": "3"}},
		variant{name: "max_delta_step", objective: "reg:squarederror", extra: map[string]string{"max_delta_step": "0.5"}},
		// 300 bins, and 256 bins plus a missing code, need two-byte bin indices.
		variant{name: "max_bin 300", objective: "reg:squarederror", extra: map[string]string{"max_bin": "300"}},
		variant{name: "max_bin 256 with missing", objective: "binary:logistic", extra: map[string]string{"max_bin": "256"}},
	)
	for _, vc := range variants {
		oc := vc
		t.Run(vc.name, func(t *testing.T) {
			dir := t.TempDir()
			train := synthetic(2000, oc.objective, oc.numClass, true, 1)
			test := synthetic(500, oc.objective, oc.numClass, true, 2)
			if oc.weights {
				rng := rand.New(rand.NewPCG(7, 8))
				for _, m := range []*Matrix{train, test} {
					m.Weights = make([]float32, m.Rows)
					for i := range m.Weights {
						m.Weights[i] = float32(rng.IntN(4)) * 0.5 // includes zero weights
					}
				}
			}
			writeCSV(t, train, filepath.Join(dir, "train.csv"))
			writeCSV(t, test, filepath.Join(dir, "test.csv"))
			hps := map[string]string{"num_round": "15", "objective": oc.objective, "max_depth": "4", "eta": "0.3",
				"min_child_weight": "1", "max_bin": "64", "lambda": "1.5", "alpha": "0.1", "gamma": "0.05"}
			if oc.numClass > 0 {
				hps["num_class"] = strconv.Itoa(oc.numClass)
			}
			for k, v := range oc.extra {
				hps[k] = v
			}
			p, err := ParseParams(hps)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Train(context.Background(), p, train, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			modelPath := filepath.Join(dir, ModelFileName)
			writeModel(t, m, modelPath)
			res := runCompare(t, py, map[string]any{"train": filepath.Join(dir, "train.csv"), "test": filepath.Join(dir, "test.csv"),
				"params": xgbParams(hps), "num_round": 15, "model": modelPath, "weight_column": oc.weights})

			ours := modelMargins(m, test)
			if len(res.OursMargin) != len(ours) {
				t.Fatalf("XGBoost gave %d margins for our model, we have %d", len(res.OursMargin), len(ours))
			}
			obj, _ := lookupObjective(oc.objective)
			preds := make([]float32, len(ours))
			obj.transform(ours, preds, m.NumGroups())
			var maxMargin, maxPred float64
			for i := range ours {
				maxMargin = max(maxMargin, math.Abs(float64(ours[i])-res.OursMargin[i]))
			}
			if oc.objective == "multi:softmax" {
				// XGBoost predicts the class index.
				k := m.NumGroups()
				for r := 0; r < test.Rows; r++ {
					best := 0
					for c := 1; c < k; c++ {
						if preds[r*k+c] > preds[r*k+best] {
							best = c
						}
					}
					maxPred = max(maxPred, math.Abs(float64(best)-res.OursPred[r]))
				}
			} else {
				for i := range preds {
					maxPred = max(maxPred, math.Abs(float64(preds[i])-res.OursPred[i]))
				}
			}
			if maxMargin > 1e-5 || maxPred > 1e-5 {
				t.Errorf("XGBoost on our model vs our predictions: max abs diff %g (margin), %g (prediction)", maxMargin, maxPred)
			}
			if res.OursNumTrees != len(m.Trees) {
				t.Errorf("XGBoost sees %d trees, we wrote %d", res.OursNumTrees, len(m.Trees))
			}
			theirs := xgbTrees(t, res.XGBModel)
			if len(theirs) != len(m.Trees) {
				t.Fatalf("XGBoost grew %d trees, we grew %d", len(theirs), len(m.Trees))
			}
			for i := range theirs {
				compareTree(t, i, m.Trees[i], theirs[i], 1e-4)
				if t.Failed() {
					break
				}
			}
		})
	}
}

// TestAbaloneMatchesXGBoost trains on the real abalone data with the SageMaker example's
// hyperparameters. With subsample=1 our trees must equal XGBoost's; with subsample=0.7
// the row samples differ (XGBoost's RNG is not ours), so test RMSE must be within 2%.
func TestAbaloneMatchesXGBoost(t *testing.T) {
	py := pythonXGBoost(t)
	train, test := loadAbalone(t)
	dir := t.TempDir()
	writeCSV(t, train, filepath.Join(dir, "train.csv"))
	writeCSV(t, test, filepath.Join(dir, "test.csv"))
	for _, sub := range []string{"1", "0.7"} {
		t.Run("subsample="+sub, func(t *testing.T) {
			hps := map[string]string{"max_depth": "5", "eta": "0.2", "gamma": "4", "min_child_weight": "6",
				"subsample": sub, "objective": "reg:linear", "num_round": "50"}
			p, err := ParseParams(hps)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Train(context.Background(), p, train, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			modelPath := filepath.Join(dir, "model-"+sub)
			writeModel(t, m, modelPath)
			xp := xgbParams(hps)
			xp["objective"] = "reg:squarederror"
			res := runCompare(t, py, map[string]any{"train": filepath.Join(dir, "train.csv"), "test": filepath.Join(dir, "test.csv"),
				"params": xp, "num_round": 50, "model": modelPath})
			ours := modelMargins(m, test)
			var maxDiff float64
			for i, v := range ours {
				maxDiff = max(maxDiff, math.Abs(float64(v)-res.OursPred[i]))
			}
			if maxDiff > 1e-5 {
				t.Errorf("XGBoost on our model vs our predictions: max abs diff %g", maxDiff)
			}
			ourRMSE, xgbRMSE := rmse(res.OursPred, test.Labels), rmse(res.XGBPred, test.Labels)
			t.Logf("abalone subsample=%s test RMSE: ours %.5f, XGBoost %s %.5f (%+.2f%%)", sub, ourRMSE, res.Version, xgbRMSE, 100*(ourRMSE-xgbRMSE)/xgbRMSE)
			if math.Abs(ourRMSE-xgbRMSE) > 0.02*xgbRMSE {
				t.Errorf("test RMSE %.5f is not within 2%% of XGBoost's %.5f", ourRMSE, xgbRMSE)
			}
			if sub == "1" {
				theirs := xgbTrees(t, res.XGBModel)
				for i := range theirs {
					compareTree(t, i, m.Trees[i], theirs[i], 1e-5)
				}
			}
		})
	}
}

// TestLibSVMLikeXGBoost feeds the same libsvm file to both trainers.
func TestLibSVMLikeXGBoost(t *testing.T) {
	py := pythonXGBoost(t)
	dir := t.TempDir()
	x := synthetic(1500, "binary:logistic", 0, true, 3)
	write := func(name string, m *Matrix) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < m.Rows; i++ {
			fmt.Fprintf(f, "%g", m.Labels[i])
			for j := 0; j < m.Cols; j++ {
				if v := m.At(i, j); !isNaN(v) {
					fmt.Fprintf(f, " %d:%s", j, strconv.FormatFloat(float64(v), 'g', -1, 32))
				}
			}
			fmt.Fprintln(f)
		}
		f.Close()
		return path
	}
	trainPath := write("train.libsvm", x)
	f, _ := os.Open(trainPath)
	train, err := ReadLibSVM(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	hps := map[string]string{"num_round": "10", "objective": "binary:logistic", "max_depth": "3"}
	p, _ := ParseParams(hps)
	m, err := Train(context.Background(), p, train, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := runCompare(t, py, map[string]any{"train": trainPath, "test": trainPath, "format": "libsvm",
		"params": xgbParams(hps), "num_round": 10})
	theirs := xgbTrees(t, res.XGBModel)
	for i := range theirs {
		compareTree(t, i, m.Trees[i], theirs[i], 1e-4)
	}
}
