package xgboost

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mutated returns the reg_squarederror fixture with edit applied to its decoded JSON.
func mutated(t *testing.T, edit func(learner map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reg_squarederror.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc["learner"].(map[string]any))
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func binaryFixture(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reg_squarederror.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func firstTree(l map[string]any) map[string]any {
	gb := l["gradient_booster"].(map[string]any)
	return gb["model"].(map[string]any)["trees"].([]any)[0].(map[string]any)
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name        string
		data        func(t *testing.T) []byte
		wantErr     string
		unsupported bool
	}{
		{"empty", func(*testing.T) []byte { return nil }, "not an XGBoost JSON, UBJSON or binary model", false},
		{"csv", func(*testing.T) []byte { return []byte("1,2,3\n") }, "not an XGBoost JSON, UBJSON or binary model", false},
		{"broken json", func(*testing.T) []byte { return []byte(`{"learner": [`) }, "json", false},
		{"truncated ubjson", func(*testing.T) []byte { return []byte("{L\x00\x00\x00\x00\x00\x00\x00\x07lear") }, "ubjson", false},
		{"truncated binary", func(t *testing.T) []byte { return binaryFixture(t)[:300] }, "binary model", false},
		{"binary with another booster", func(t *testing.T) []byte {
			return bytes.Replace(binaryFixture(t), []byte("gbtree"), []byte("gbline"), 1)
		}, `booster "gbline"`, true},
		{"unknown objective", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) { l["objective"] = map[string]any{"name": "reg:nonsense"} })
		}, `unknown objective "reg:nonsense"`, false},
		{"multi-class without num_class", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) { l["objective"] = map[string]any{"name": "multi:softprob"} })
		}, "needs num_class >= 2", false},
		{"gblinear", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) { l["gradient_booster"] = map[string]any{"name": "gblinear"} })
		}, `booster "gblinear"`, true},
		{"categorical split", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) {
				tr := firstTree(l)
				st := tr["split_type"].([]any)
				st[0] = 1
			})
		}, "categorical", true},
		{"multi-target", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) {
				l["learner_model_param"].(map[string]any)["num_target"] = "2"
			})
		}, "num_target", true},
		{"child out of range", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) { firstTree(l)["left_children"].([]any)[0] = 999 })
		}, "outside", false},
		{"node reached twice", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) {
				tr := firstTree(l)
				tr["right_children"].([]any)[0] = tr["left_children"].([]any)[0]
			})
		}, "reached twice", false},
		{"split on unknown feature", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) { firstTree(l)["split_indices"].([]any)[0] = 6 })
		}, "splits on feature 6", false},
		{"array lengths differ", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) {
				tr := firstTree(l)
				tr["default_left"] = tr["default_left"].([]any)[1:]
			})
		}, "different lengths", false},
		{"num_trees disagrees", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) {
				gb := l["gradient_booster"].(map[string]any)["model"].(map[string]any)
				gb["gbtree_model_param"].(map[string]any)["num_trees"] = "3"
			})
		}, "num_trees is 3", false},
		{"logistic base_score outside (0,1)", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) {
				l["objective"] = map[string]any{"name": "binary:logistic"}
				l["learner_model_param"].(map[string]any)["base_score"] = "1.5"
			})
		}, "base_score in (0,1)", false},
		{"non-numeric base_score", func(t *testing.T) []byte {
			return mutated(t, func(l map[string]any) { l["learner_model_param"].(map[string]any)["base_score"] = "abc" })
		}, "base_score", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.data(t))
			if err == nil {
				t.Fatalf("parsed without error: %+v", m)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v (%v)", got, tt.unsupported, err)
			}
		})
	}
}

func TestValidateTrainerModels(t *testing.T) {
	ok := func() *Model { return stump("reg:squarederror", 0.5, 0, 1, -1, 2, false) }
	tests := []struct {
		name    string
		edit    func(m *Model)
		wantErr string
	}{
		{"valid stump", func(*Model) {}, ""},
		{"reg:linear is accepted", func(m *Model) { m.Objective = "reg:linear" }, ""},
		{"no trees", func(m *Model) { m.Trees = nil }, ""},
		{"empty objective", func(m *Model) { m.Objective = "" }, "unknown objective"},
		{"class outside num_class", func(m *Model) { m.Objective, m.NumClass, m.Trees[0].Group = "multi:softprob", 3, 3 }, "group 3 outside"},
		{"num_class on a regression", func(m *Model) { m.NumClass = 3 }, "not multi-class"},
		{"missing default_left", func(m *Model) { m.Trees[0].DefaultLeft = nil }, "different lengths"},
		{"one child", func(m *Model) { m.Trees[0].RightChildren[0] = NoChild }, "one child"},
		{"NaN leaf", func(m *Model) { m.Trees[0].SplitConditions[1] = nan }, "non-finite"},
		{"NaN threshold", func(m *Model) { m.Trees[0].SplitConditions[0] = nan }, "NaN split condition"},
		{"wrong parents", func(m *Model) { m.Trees[0].Parents = []int32{NoParent, 0, 1} }, "parent 1"},
		{"poisson base_score 0", func(m *Model) { m.Objective, m.BaseScore = "count:poisson", 0 }, "base_score > 0"},
		{"feature names count", func(m *Model) { m.FeatureNames = []string{"a"} }, "feature names"},
		{"categorical feature", func(m *Model) { m.FeatureTypes = []string{"float", "c"} }, "categorical"},
		{"dart without weights", func(m *Model) { m.Booster = BoosterDart }, "dart has 0 weights"},
		{"unknown booster", func(m *Model) { m.Booster = "gblinear" }, "booster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok()
			tt.edit(m)
			err := m.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				var buf bytes.Buffer
				if err := m.WriteJSON(&buf); err != nil {
					t.Fatalf("WriteJSON: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
			if err := m.WriteJSON(&bytes.Buffer{}); err == nil {
				t.Fatal("WriteJSON accepted an invalid model")
			}
		})
	}
}

// TestWriteJSONGolden pins the exact document written for a small hand-built model.
func TestWriteJSONGolden(t *testing.T) {
	m := multiModel("multi:softprob")
	m.FeatureNames = []string{"length"}
	m.Attributes = map[string]string{"best_iteration": "1"}
	m.Trees[0].SplitConditions[1] = 1e-7 // exponent form
	m.Trees[1].SplitConditions[2] = 100  // integral float
	m.Trees[1].SumHessian = []float32{1e6, 2.5e5, 7.5e5}
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "multi_stumps.golden.json")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("WriteJSON output differs from %s:\n got: %s\nwant: %s", golden, buf.Bytes(), want)
	}
	// Every float must carry a '.' or an exponent, or XGBoost reads it as an integer.
	for _, bad := range []string{`"split_conditions":[0,`, `,100,`, `,100]`} {
		if bytes.Contains(buf.Bytes(), []byte(bad)) {
			t.Errorf("output contains integral float %q", bad)
		}
	}
	back, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if back.Trees[1].SumHessian[0] != 1e6 || back.Trees[0].SplitConditions[1] != 1e-7 || back.FeatureNames[0] != "length" {
		t.Errorf("round trip lost values: %+v", back.Trees[:2])
	}
}
