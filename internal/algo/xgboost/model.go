// Package xgboost holds Sluice's XGBoost-compatible tree models: the in-memory model, its
// JSON and UBJSON encodings as written by XGBoost 1.7, and a native predictor whose output
// matches XGBoost's predict.
//
// The trainer builds a Model and calls WriteJSON; endpoints and batch transform call Load and
// NewPredictor. A model written here loads in real XGBoost (Booster.load_model), and a model
// saved by real XGBoost 1.x (JSON, UBJSON, or the deprecated binary format that SageMaker's
// XGBoost containers write to xgboost-model; gbtree or dart; numerical splits) loads here.
package xgboost

import (
	"errors"
	"fmt"
	"math"
)

// xgboostVersion is the XGBoost release whose model format WriteJSON produces.
var xgboostVersion = [3]int{1, 7, 4}

// NoParent is the parent index XGBoost records for a tree's root node (INT32_MAX).
const NoParent int32 = math.MaxInt32

// DeletedNode is the split index XGBoost's pruner leaves on nodes it removed; such nodes
// stay in the arrays but are unreachable from the root.
const DeletedNode int32 = math.MaxInt32

// NoChild marks the absent children of a leaf in Tree.LeftChildren and Tree.RightChildren.
const NoChild int32 = -1

// Booster names accepted in Model.Booster.
const (
	BoosterGBTree = "gbtree"
	BoosterDart   = "dart"
)

// ErrUnsupported reports a model feature this package cannot predict with (for example
// categorical splits, gblinear, or multi-target trees).
var ErrUnsupported = errors.New("unsupported xgboost model")

// Model is an XGBoost gradient-boosted tree model (gbtree or dart) in XGBoost's own layout.
//
// How a trainer fills a Model so that real XGBoost predicts the same values:
//
//   - Objective is XGBoost's objective name ("reg:squarederror", "binary:logistic",
//     "multi:softprob", "count:poisson", ...). "reg:linear" is accepted and written as
//     "reg:squarederror", as XGBoost 1.7 does. ObjectiveParams holds the objective's own
//     parameters as strings (scale_pos_weight, max_delta_step, ...); missing ones get
//     XGBoost's defaults when written. num_class for multi-class objectives comes from NumClass.
//   - BaseScore is in the objective's output space, exactly as XGBoost stores it in
//     learner_model_param.base_score: a probability for reg:logistic and binary:logistic
//     (0.5 means margin 0), a mean for count:poisson, reg:gamma and reg:tweedie (margin =
//     log), and the margin itself for everything else, including binary:logitraw and
//     multi-class (XGBoost 1.7 keeps 0.5 there, added to every class's margin). The trainer
//     must start boosting from BaseMargin(), which applies XGBoost's link in float32.
//   - NumClass is 0 for single-output objectives and the number of classes (≥ 2) for
//     multi:softprob and multi:softmax. NumFeature is the number of input columns.
//   - Trees are in boosting order. For multi-class, each round adds NumClass trees (one per
//     class, Tree.Group = class index 0..NumClass-1, written as tree_info); otherwise every
//     Group is 0. With NumParallelTree > 1 each round adds NumParallelTree trees per group.
//   - In each Tree, node 0 is the root; a split sends a row left when
//     float32(x[SplitIndices[i]]) < SplitConditions[i], right otherwise, and to the left child
//     when x is missing (NaN) and DefaultLeft[i] is true. A leaf has LeftChildren and
//     RightChildren equal to NoChild and stores its output — already multiplied by eta — in
//     SplitConditions[i] (SplitIndices[i] = 0, DefaultLeft[i] = false). The margin of a row
//     is BaseMargin() plus the sum, in float32 and in tree order, of the leaves it reaches.
//   - BaseWeights, LossChanges and SumHessian do not affect prediction but are kept for
//     XGBoost's feature importance and tree dumps: BaseWeights is the node weight (for a leaf,
//     its value), LossChanges the split gain (0 at leaves), SumHessian the node's hessian
//     sum ("cover"). Nil slices are written as zeros.
//   - Parents[i] is the parent of node i, NoParent for the root; nil Parents are derived.
type Model struct {
	// Objective is XGBoost's objective name, e.g. "binary:logistic".
	Objective string
	// ObjectiveParams are the objective's parameters as XGBoost spells them.
	ObjectiveParams map[string]string
	// BaseScore is learner_model_param.base_score (output space, see the type comment).
	BaseScore float32
	// NumClass is the number of classes for multi-class objectives, else 0.
	NumClass int
	// NumFeature is the number of input features the model was trained on.
	NumFeature int
	// FeatureNames optionally names the features (len NumFeature when set).
	FeatureNames []string
	// FeatureTypes optionally types the features ("float", "int", "q", "i"); "c"
	// (categorical) is not supported.
	FeatureTypes []string
	// Booster is BoosterGBTree (the default when empty) or BoosterDart.
	Booster string
	// NumParallelTree is the number of trees per group per round (1 unless random forest).
	NumParallelTree int
	// Trees are the boosted trees in order.
	Trees []Tree
	// WeightDrop holds dart's per-tree output weights (len(Trees)); nil for gbtree.
	WeightDrop []float32
	// Attributes are XGBoost's free-form learner attributes (best_iteration, ...).
	Attributes map[string]string
	// Version is the XGBoost version recorded in a loaded file (informational; WriteJSON
	// always writes XGBoost 1.7's format and version).
	Version [3]int
}

// Tree is one regression tree in XGBoost's array layout: node i is described by the i-th
// element of every slice.
type Tree struct {
	// Group is the output group (class) the tree adds to; written as tree_info.
	Group int32
	// LeftChildren and RightChildren index the children of a split, NoChild at leaves.
	LeftChildren  []int32
	RightChildren []int32
	// Parents index each node's parent, NoParent for the root.
	Parents []int32
	// SplitIndices is the feature a split tests.
	SplitIndices []int32
	// SplitConditions is the split threshold, or the leaf value at a leaf.
	SplitConditions []float32
	// DefaultLeft sends missing values to the left child.
	DefaultLeft []bool
	// BaseWeights, LossChanges and SumHessian are node statistics (see Model).
	BaseWeights []float32
	LossChanges []float32
	SumHessian  []float32
}

// NumNodes returns the number of nodes in the tree.
func (t *Tree) NumNodes() int { return len(t.LeftChildren) }

// IsLeaf reports whether node i is a leaf.
func (t *Tree) IsLeaf(i int) bool { return t.LeftChildren[i] == NoChild }

// NumGroups returns the number of margins the model produces per row: NumClass for
// multi-class models, otherwise 1.
func (m *Model) NumGroups() int {
	if m.NumClass > 1 {
		return m.NumClass
	}
	return 1
}

// BaseMargin returns the margin every row starts from: BaseScore mapped through the
// objective's link as XGBoost 1.7 does in float32 (logit for reg:logistic and
// binary:logistic, log for count:poisson, reg:gamma, reg:tweedie and survival:cox, identity
// otherwise).
func (m *Model) BaseMargin() float32 {
	info, ok := lookupObjective(m.Objective)
	if !ok {
		return m.BaseScore
	}
	return info.link.margin(m.BaseScore)
}

// Validate checks that the model is complete and consistent: a known objective, NumClass
// matching it, and well-formed trees whose splits use features below NumFeature.
func (m *Model) Validate() error {
	info, ok := lookupObjective(m.Objective)
	if !ok {
		return fmt.Errorf("xgboost model: unknown objective %q", m.Objective)
	}
	if info.multiclass && m.NumClass < 2 {
		return fmt.Errorf("xgboost model: objective %s needs num_class >= 2, got %d", m.Objective, m.NumClass)
	}
	if !info.multiclass && m.NumClass > 1 {
		return fmt.Errorf("xgboost model: objective %s is not multi-class but num_class is %d", m.Objective, m.NumClass)
	}
	switch {
	case info.link == linkLogit && !(m.BaseScore > 0 && m.BaseScore < 1):
		return fmt.Errorf("xgboost model: objective %s needs base_score in (0,1), got %v", m.Objective, m.BaseScore)
	case info.link == linkLog && !(m.BaseScore > 0):
		return fmt.Errorf("xgboost model: objective %s needs base_score > 0, got %v", m.Objective, m.BaseScore)
	case math.IsNaN(float64(m.BaseScore)) || math.IsInf(float64(m.BaseScore), 0):
		return fmt.Errorf("xgboost model: base_score is %v", m.BaseScore)
	}
	if m.NumClass < 0 || m.NumFeature < 0 {
		return fmt.Errorf("xgboost model: negative num_class or num_feature")
	}
	switch m.Booster {
	case "", BoosterGBTree:
		if m.WeightDrop != nil {
			return fmt.Errorf("xgboost model: weight_drop set on a gbtree booster")
		}
	case BoosterDart:
		if len(m.WeightDrop) != len(m.Trees) {
			return fmt.Errorf("xgboost model: dart has %d weights for %d trees", len(m.WeightDrop), len(m.Trees))
		}
	default:
		return fmt.Errorf("%w: booster %q", ErrUnsupported, m.Booster)
	}
	if m.FeatureNames != nil && len(m.FeatureNames) != m.NumFeature {
		return fmt.Errorf("xgboost model: %d feature names for %d features", len(m.FeatureNames), m.NumFeature)
	}
	if m.FeatureTypes != nil && len(m.FeatureTypes) != m.NumFeature {
		return fmt.Errorf("xgboost model: %d feature types for %d features", len(m.FeatureTypes), m.NumFeature)
	}
	for i, ft := range m.FeatureTypes {
		if ft == "c" {
			return fmt.Errorf("%w: feature %d is categorical", ErrUnsupported, i)
		}
	}
	groups := int32(m.NumGroups())
	for i := range m.Trees {
		t := &m.Trees[i]
		if t.Group < 0 || t.Group >= groups {
			return fmt.Errorf("xgboost model: tree %d: group %d outside [0,%d)", i, t.Group, groups)
		}
		if _, err := t.depth(m.NumFeature); err != nil {
			return fmt.Errorf("xgboost model: tree %d: %w", i, err)
		}
	}
	return nil
}

// depth checks the tree's shape and returns the depth of its deepest leaf (0 for a single
// leaf). No node may be reached twice from the root. Unreachable nodes are allowed: XGBoost's
// pruner leaves deleted nodes in the arrays.
func (t *Tree) depth(numFeature int) (int, error) {
	n := len(t.LeftChildren)
	if n == 0 {
		return 0, errors.New("no nodes")
	}
	if len(t.RightChildren) != n || len(t.SplitIndices) != n || len(t.SplitConditions) != n || len(t.DefaultLeft) != n {
		return 0, fmt.Errorf("node arrays have different lengths (left %d, right %d, split_indices %d, split_conditions %d, default_left %d)",
			n, len(t.RightChildren), len(t.SplitIndices), len(t.SplitConditions), len(t.DefaultLeft))
	}
	for name, s := range map[string]int{"parents": len(t.Parents), "base_weights": len(t.BaseWeights), "loss_changes": len(t.LossChanges), "sum_hessian": len(t.SumHessian)} {
		if s != 0 && s != n {
			return 0, fmt.Errorf("%s has %d entries for %d nodes", name, s, n)
		}
	}
	seen := make([]bool, n)
	type item struct{ node, depth int32 }
	stack := []item{{0, 0}}
	seen[0] = true
	maxDepth := 0
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i := it.node
		l, r := t.LeftChildren[i], t.RightChildren[i]
		if l == NoChild || r == NoChild {
			if l != r {
				return 0, fmt.Errorf("node %d has one child", i)
			}
			if f := t.SplitConditions[i]; math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return 0, fmt.Errorf("leaf %d has non-finite value %v", i, f)
			}
			maxDepth = max(maxDepth, int(it.depth))
			continue
		}
		if f := t.SplitIndices[i]; f < 0 || (numFeature > 0 && int(f) >= numFeature) {
			return 0, fmt.Errorf("node %d splits on feature %d, outside [0,%d)", i, f, numFeature)
		}
		if math.IsNaN(float64(t.SplitConditions[i])) {
			return 0, fmt.Errorf("node %d has a NaN split condition", i)
		}
		for _, c := range [2]int32{l, r} {
			if c <= 0 || int(c) >= n {
				return 0, fmt.Errorf("node %d has child %d outside [1,%d)", i, c, n)
			}
			if seen[c] {
				return 0, fmt.Errorf("node %d is reached twice", c)
			}
			if t.Parents != nil && t.Parents[c] != i {
				return 0, fmt.Errorf("node %d has parent %d, expected %d", c, t.Parents[c], i)
			}
			seen[c] = true
			stack = append(stack, item{c, it.depth + 1})
		}
	}
	if t.Parents != nil && t.Parents[0] != NoParent {
		return 0, fmt.Errorf("root has parent %d, expected %d", t.Parents[0], NoParent)
	}
	return maxDepth, nil
}
