package xgboost

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// XGBoost before 2.0 saves a model in its deprecated binary format whenever the file name
// ends in neither .json nor .ubj — which is what SageMaker's XGBoost containers (1.3-1 to
// 1.7-1) write to xgboost-model. The layout is a sequence of little-endian C structs:
//
//	"binf"                                  optional magic
//	LearnerModelParamLegacy                 136 bytes
//	objective name, booster name            uint64 length + bytes each
//	GBTreeModelParam                        160 bytes
//	per tree: TreeParam (148 bytes), nodes (20 bytes each), node stats (16 bytes each)
//	tree_info                               int32 per tree
//	dart only: weight_drop                  uint64 count + float32s
//	attributes (if flagged)                 uint64 count + (key, value) strings
const (
	learnerParamSize = 136
	gbtreeParamSize  = 160
	treeParamSize    = 148
	binNodeSize      = 20
	binStatSize      = 16
)

// binReader reads the little-endian structs of the binary format.
type binReader struct {
	b   []byte
	pos int
}

var errBinaryShort = errors.New("unexpected end of data")

func (r *binReader) take(n int) ([]byte, error) {
	if n < 0 || len(r.b)-r.pos < n {
		return nil, errBinaryShort
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s, nil
}

func (r *binReader) u64() (uint64, error) {
	b, err := r.take(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// str reads a dmlc string: uint64 length and bytes.
func (r *binReader) str() (string, error) {
	n, err := r.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(len(r.b)-r.pos) {
		return "", fmt.Errorf("string of %d bytes exceeds the data", n)
	}
	b, _ := r.take(int(n))
	return string(b), nil
}

func i32(b []byte, off int) int32   { return int32(binary.LittleEndian.Uint32(b[off:])) }
func f32(b []byte, off int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[off:])) }

// isBinary recognises the deprecated binary format by its magic.
func isBinary(data []byte) bool {
	return len(data) >= 4 && string(data[:4]) == "binf"
}

// parseBinary decodes the deprecated binary model format of XGBoost 1.x.
func parseBinary(data []byte) (*Model, error) {
	r := &binReader{b: data}
	if isBinary(data) {
		r.pos = 4
	}
	lp, err := r.take(learnerParamSize)
	if err != nil {
		return nil, fmt.Errorf("learner parameters: %w", err)
	}
	m := &Model{
		BaseScore:  f32(lp, 0),
		NumFeature: int(i32(lp, 4)),
		NumClass:   int(i32(lp, 8)),
	}
	hasAttrs, hasMetrics := i32(lp, 12) != 0, i32(lp, 16) != 0
	m.Version = [3]int{int(i32(lp, 20)), int(i32(lp, 24)), 0}
	if nt := i32(lp, 28); nt > 1 {
		return nil, fmt.Errorf("%w: num_target %d (multi-target trees)", ErrUnsupported, nt)
	}
	if m.NumFeature < 0 || m.NumClass < 0 {
		return nil, errors.New("learner parameters: negative num_feature or num_class")
	}
	if m.Objective, err = r.str(); err != nil {
		return nil, fmt.Errorf("objective name: %w", err)
	}
	booster, err := r.str()
	if err != nil {
		return nil, fmt.Errorf("booster name: %w", err)
	}
	switch booster {
	case BoosterGBTree, BoosterDart:
		m.Booster = booster
	default:
		return nil, fmt.Errorf("%w: booster %q (only gbtree and dart)", ErrUnsupported, booster)
	}

	gp, err := r.take(gbtreeParamSize)
	if err != nil {
		return nil, fmt.Errorf("gbtree parameters: %w", err)
	}
	numTrees := int(i32(gp, 0))
	m.NumParallelTree = max(int(i32(gp, 4)), 1)
	if numTrees < 0 || numTrees > len(data)/(treeParamSize+binNodeSize+binStatSize) {
		return nil, fmt.Errorf("gbtree parameters: implausible tree count %d", numTrees)
	}
	if sl := i32(gp, 28); sl > 1 {
		return nil, fmt.Errorf("%w: vector leaves (size_leaf_vector %d)", ErrUnsupported, sl)
	}
	m.Trees = make([]Tree, numTrees)
	for k := range m.Trees {
		if err := r.tree(&m.Trees[k]); err != nil {
			return nil, fmt.Errorf("tree %d: %w", k, err)
		}
	}
	info, err := r.take(4 * numTrees)
	if err != nil {
		return nil, fmt.Errorf("tree_info: %w", err)
	}
	for k := range m.Trees {
		m.Trees[k].Group = i32(info, 4*k)
	}
	if booster == BoosterDart {
		m.WeightDrop = []float32{}
		if numTrees > 0 {
			n, err := r.u64()
			if err != nil {
				return nil, fmt.Errorf("weight_drop: %w", err)
			}
			b, err := r.take(int(min(n, uint64(len(data)))) * 4)
			if err != nil {
				return nil, fmt.Errorf("weight_drop: %w", err)
			}
			for i := 0; i < len(b); i += 4 {
				m.WeightDrop = append(m.WeightDrop, f32(b, i))
			}
		}
	}
	if hasAttrs {
		if err := r.attributes(m); err != nil {
			return nil, fmt.Errorf("attributes: %w", err)
		}
	}
	// Older writers follow with count:poisson's max_delta_step and the evaluation metrics;
	// neither affects prediction, and XGBoost 1.7 no longer writes them.
	_ = hasMetrics
	return m, nil
}

// tree reads one RegTree.
func (r *binReader) tree(t *Tree) error {
	tp, err := r.take(treeParamSize)
	if err != nil {
		return err
	}
	n := int(i32(tp, 4))
	if n <= 0 || n > (len(r.b)-r.pos)/(binNodeSize+binStatSize) {
		return fmt.Errorf("implausible node count %d", n)
	}
	if sl := i32(tp, 20); sl > 1 {
		return fmt.Errorf("%w: vector leaves (size_leaf_vector %d)", ErrUnsupported, sl)
	}
	nodes, _ := r.take(n * binNodeSize)
	stats, _ := r.take(n * binStatSize)
	*t = Tree{
		LeftChildren: make([]int32, n), RightChildren: make([]int32, n), Parents: make([]int32, n),
		SplitIndices: make([]int32, n), SplitConditions: make([]float32, n), DefaultLeft: make([]bool, n),
		BaseWeights: make([]float32, n), LossChanges: make([]float32, n), SumHessian: make([]float32, n),
	}
	for i := range n {
		b := nodes[i*binNodeSize:]
		// The parent's top bit records "is a left child"; the index is the rest.
		t.Parents[i] = i32(b, 0) & math.MaxInt32
		t.LeftChildren[i] = i32(b, 4)
		t.RightChildren[i] = i32(b, 8)
		sindex := uint32(i32(b, 12))
		t.SplitIndices[i] = int32(sindex & math.MaxInt32)
		t.DefaultLeft[i] = sindex>>31 == 1
		t.SplitConditions[i] = f32(b, 16)
		s := stats[i*binStatSize:]
		t.LossChanges[i] = f32(s, 0)
		t.SumHessian[i] = f32(s, 4)
		t.BaseWeights[i] = f32(s, 8)
		if t.LeftChildren[i] == NoChild {
			t.DefaultLeft[i] = false
			if t.SplitIndices[i] != DeletedNode {
				t.SplitIndices[i] = 0
			}
		}
	}
	return nil
}

// attributes reads the learner attributes. XGBoost keeps some configuration there:
// "objective" holds the objective's JSON configuration and SAVED_PARAM_x older parameters.
func (r *binReader) attributes(m *Model) error {
	n, err := r.u64()
	if err != nil {
		return err
	}
	if n > uint64(len(r.b)-r.pos)/16 {
		return fmt.Errorf("implausible attribute count %d", n)
	}
	for range n {
		k, err := r.str()
		if err != nil {
			return err
		}
		v, err := r.str()
		if err != nil {
			return err
		}
		switch {
		case k == "objective":
			var obj map[string]json.RawMessage
			if json.Unmarshal([]byte(v), &obj) == nil {
				name := m.Objective
				if err := m.readObjective(obj); err != nil {
					return err
				}
				m.Objective = name // the header's name is authoritative
			}
		case strings.HasPrefix(k, "SAVED_PARAM_"):
			p := strings.TrimPrefix(k, "SAVED_PARAM_")
			if info, ok := lookupObjective(m.Objective); ok {
				if _, known := info.defaults[p]; known {
					if m.ObjectiveParams == nil {
						m.ObjectiveParams = map[string]string{}
					}
					m.ObjectiveParams[p] = v
				}
			}
		default:
			if m.Attributes == nil {
				m.Attributes = map[string]string{}
			}
			m.Attributes[k] = v
		}
	}
	return nil
}
