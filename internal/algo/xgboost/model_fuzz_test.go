package xgboost

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader. Whatever it accepts must compile into a
// predictor that predicts without panicking: the unchecked tree walks rely on validation.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	ubj, _ := filepath.Glob(filepath.Join("testdata", "*.ubj"))
	bin, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	for _, p := range append(append(paths, ubj...), bin...) {
		if b, err := os.ReadFile(p); err == nil && len(b) < 40_000 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		p, err := NewPredictor(m)
		if err != nil {
			return
		}
		if p.NumFeature() > 1<<16 {
			return
		}
		row := make([]float32, p.NumFeature())
		out := make([]float32, max(p.NumOutputs(), p.NumGroups()))
		for _, v := range []float32{0, -1e30, 1e30, float32(math.NaN()), float32(math.Inf(1))} {
			for i := range row {
				row[i] = v
			}
			if err := p.Predict(row, out); err != nil {
				t.Fatal(err)
			}
			if err := p.PredictBatch(append(row, row...), len(row), make([]float32, 2*p.NumOutputs())); err != nil && p.NumFeature() > 0 {
				t.Fatal(err)
			}
		}
	})
}

// refMargin is the textbook walk over the model's own arrays, used to cross-check the
// compiled predictor.
func refMargin(m *Model, row []float32) []float32 {
	out := make([]float32, m.NumGroups())
	for g := range out {
		out[g] = m.BaseMargin()
	}
	for k := range m.Trees {
		t := &m.Trees[k]
		i := int32(0)
		for !t.IsLeaf(int(i)) {
			v := row[t.SplitIndices[i]]
			switch {
			case v != v:
				if t.DefaultLeft[i] {
					i = t.LeftChildren[i]
				} else {
					i = t.RightChildren[i]
				}
			case v < t.SplitConditions[i]:
				i = t.LeftChildren[i]
			default:
				i = t.RightChildren[i]
			}
		}
		w := float32(1)
		if m.Booster == BoosterDart {
			w = m.WeightDrop[k]
		}
		out[t.Group] += float32(t.SplitConditions[i] * w)
	}
	return out
}

// FuzzPredictorTree builds trees from arbitrary bytes (children may be out of range, shared
// or cyclic); NewPredictor must reject the malformed ones, and accepted ones must predict
// exactly what the textbook walk predicts.
func FuzzPredictorTree(f *testing.F) {
	f.Add([]byte{3, 1, 2, 0, 10, 255, 255, 0, 0, 255, 255, 0, 0}, []byte{5, 20})
	f.Add([]byte{5, 1, 2, 1, 10, 3, 4, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0}, []byte{255, 0, 9})
	f.Fuzz(func(t *testing.T, spec, rowBytes []byte) {
		if len(spec) < 1 {
			return
		}
		n := int(spec[0]%31) + 1
		spec = spec[1:]
		if len(spec) < 4*n {
			return
		}
		const nfeat = 3
		tr := Tree{}
		for i := range n {
			b := spec[4*i : 4*i+4]
			tr.LeftChildren = append(tr.LeftChildren, int32(int8(b[0])))
			tr.RightChildren = append(tr.RightChildren, int32(int8(b[1])))
			tr.SplitIndices = append(tr.SplitIndices, int32(b[2]%4)) // 3 is out of range
			tr.SplitConditions = append(tr.SplitConditions, float32(int8(b[3]))/8)
			tr.DefaultLeft = append(tr.DefaultLeft, b[3]&1 == 1)
		}
		m := &Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: nfeat, Trees: []Tree{tr, tr}}
		p, err := NewPredictor(m)
		if err != nil {
			return
		}
		row := make([]float32, nfeat)
		for i := range row {
			row[i] = float32(math.NaN())
			if i < len(rowBytes) && rowBytes[i] != 255 {
				row[i] = float32(int8(rowBytes[i])) / 8
			}
		}
		out := make([]float32, 1)
		if err := p.Predict(row, out); err != nil {
			t.Fatal(err)
		}
		if want := refMargin(m, row)[0]; out[0] != want {
			t.Fatalf("predict %v, textbook walk %v (tree %+v, row %v)", out[0], want, tr, row)
		}
	})
}
