package train

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// xgbTree is the part of a tree in XGBoost's JSON that decides predictions.
type xgbTree struct {
	Left       []int32   `json:"left_children"`
	Right      []int32   `json:"right_children"`
	Split      []int32   `json:"split_indices"`
	Cond       []float32 `json:"split_conditions"`
	Default    []int     `json:"default_left"`
	BaseWeight []float32 `json:"base_weights"`
	LossChg    []float32 `json:"loss_changes"`
	SumHess    []float32 `json:"sum_hessian"`
}

func xgbTrees(t *testing.T, raw json.RawMessage) []xgbTree {
	var doc struct {
		Learner struct {
			GradientBooster struct {
				Model struct {
					Trees []xgbTree `json:"trees"`
				} `json:"model"`
			} `json:"gradient_booster"`
		} `json:"learner"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Learner.GradientBooster.Model.Trees
}

func TestAbaloneTreesMatchXGBoost(t *testing.T) {
	py := pythonXGBoost(t)
	train, test := loadAbalone(t)
	dir := t.TempDir()
	writeCSV(t, train, filepath.Join(dir, "train.csv"))
	writeCSV(t, test, filepath.Join(dir, "test.csv"))
	hp := map[string]string{"max_depth": "5", "eta": "0.2", "gamma": "4", "min_child_weight": "6",
		"subsample": "1", "objective": "reg:squarederror", "num_round": "50"}
	p, err := ParseParams(hp)
	if err != nil {
		t.Fatal(err)
	}
	model, err := Train(context.Background(), p, train, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	modelPath := filepath.Join(dir, "xgboost-model")
	f, _ := os.Create(modelPath)
	if err := model.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	res := runCompare(t, py, map[string]any{"train": filepath.Join(dir, "train.csv"), "test": filepath.Join(dir, "test.csv"),
		"params":    map[string]any{"max_depth": 5, "eta": 0.2, "gamma": 4, "min_child_weight": 6, "subsample": 1, "objective": "reg:squarederror"},
		"num_round": 50, "model": modelPath})
	theirs := xgbTrees(t, res.XGBModel)
	diffTrees := 0
	for i, ot := range model.Trees {
		tt := theirs[i]
		same := len(ot.LeftChildren) == len(tt.Left)
		for j := 0; same && j < len(tt.Left); j++ {
			same = ot.LeftChildren[j] == tt.Left[j] && ot.SplitIndices[j] == tt.Split[j] &&
				math.Abs(float64(ot.SplitConditions[j]-tt.Cond[j])) <= 1e-5*max(1, math.Abs(float64(tt.Cond[j])))
		}
		if !same {
			diffTrees++
			if diffTrees <= 2 {
				t.Logf("tree %d differs:\n ours   split=%v cond=%v\n theirs split=%v cond=%v", i, ot.SplitIndices, ot.SplitConditions, tt.Split, tt.Cond)
			}
		}
	}
	t.Logf("%d of %d trees differ from XGBoost's", diffTrees, len(model.Trees))
	ours := modelMargins(model, test)
	var maxDiff float64
	for i, v := range ours {
		maxDiff = max(maxDiff, math.Abs(float64(v)-res.OursPred[i]))
	}
	t.Logf("our model in XGBoost vs our predictor: max abs diff %g", maxDiff)
	t.Logf("test RMSE: ours %.5f, xgboost %.5f", rmse(res.OursPred, test.Labels), rmse(res.XGBPred, test.Labels))
}
