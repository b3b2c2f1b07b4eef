package xgboost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// maxModelBytes bounds what Load reads, so a wrong file cannot exhaust memory.
const maxModelBytes = 1 << 30

// Load reads an XGBoost model saved as JSON, UBJSON or XGBoost 1.x's deprecated binary
// format (detected from the first bytes, as XGBoost itself does) and returns it validated.
// The binary format is what SageMaker's XGBoost containers write to xgboost-model. Only tree boosters with numerical splits
// are supported; anything else is reported with ErrUnsupported.
func Load(r io.Reader) (*Model, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("xgboost load: %w", err)
	}
	if len(data) > maxModelBytes {
		return nil, fmt.Errorf("xgboost load: model larger than %d bytes", maxModelBytes)
	}
	return Parse(data)
}

// Parse decodes an XGBoost model held in memory; see Load.
func Parse(data []byte) (*Model, error) {
	if isBinary(data) {
		m, err := parseBinary(data)
		if err != nil {
			return nil, fmt.Errorf("xgboost load: binary model: %w", err)
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("xgboost load: %w", err)
		}
		return m, nil
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) < 2 || trimmed[0] != '{' {
		return nil, errors.New("xgboost load: not an XGBoost JSON, UBJSON or binary model")
	}
	if isUBJSON(trimmed) {
		js, err := ubjsonToJSON(trimmed)
		if err != nil {
			return nil, fmt.Errorf("xgboost load: ubjson: %w", err)
		}
		trimmed = js
	}
	var w wireModel
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, fmt.Errorf("xgboost load: json: %w", err)
	}
	m, err := w.model()
	if err != nil {
		return nil, fmt.Errorf("xgboost load: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("xgboost load: %w", err)
	}
	return m, nil
}

// isUBJSON tells UBJSON from JSON by the byte after '{': JSON continues with a quote,
// whitespace or '}', UBJSON with a length type marker or a container option.
func isUBJSON(b []byte) bool {
	switch b[1] {
	case '"', ' ', '\t', '\r', '\n', '}':
		return false
	}
	return true
}

// wireModel mirrors the JSON document XGBoost 1.7 writes for a tree model.
type wireModel struct {
	Learner struct {
		Attributes        map[string]string          `json:"attributes"`
		FeatureNames      []string                   `json:"feature_names"`
		FeatureTypes      []string                   `json:"feature_types"`
		GradientBooster   wireBooster                `json:"gradient_booster"`
		LearnerModelParam map[string]string          `json:"learner_model_param"`
		Objective         map[string]json.RawMessage `json:"objective"`
	} `json:"learner"`
	Version []int `json:"version"`
}

type wireBooster struct {
	Name       string       `json:"name"`
	Model      *wireGBTree  `json:"model"`
	GBTree     *wireBooster `json:"gbtree"`
	WeightDrop []float32    `json:"weight_drop"`
}

type wireGBTree struct {
	Param    map[string]string `json:"gbtree_model_param"`
	TreeInfo []int32           `json:"tree_info"`
	Trees    []wireTree        `json:"trees"`
}

type wireTree struct {
	BaseWeights     []float32         `json:"base_weights"`
	Categories      []int64           `json:"categories"`
	CategoriesNodes []int64           `json:"categories_nodes"`
	DefaultLeft     flagArray         `json:"default_left"`
	ID              int               `json:"id"`
	LeftChildren    []int32           `json:"left_children"`
	LossChanges     []float32         `json:"loss_changes"`
	Parents         []int32           `json:"parents"`
	RightChildren   []int32           `json:"right_children"`
	SplitConditions []float32         `json:"split_conditions"`
	SplitIndices    []int64           `json:"split_indices"`
	SplitType       []int32           `json:"split_type"`
	SumHessian      []float32         `json:"sum_hessian"`
	TreeParam       map[string]string `json:"tree_param"`
}

// flagArray decodes XGBoost's default_left, written as 0/1 integers (JSON booleans are
// accepted too).
type flagArray []bool

// UnmarshalJSON implements json.Unmarshaler.
func (f *flagArray) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = nil
		return nil
	}
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return errors.New("default_left: not an array")
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	out := flagArray{}
	if s != "" {
		out = make(flagArray, 0, strings.Count(s, ",")+1)
		for v := range strings.SplitSeq(s, ",") {
			switch strings.TrimSpace(v) {
			case "0", "false":
				out = append(out, false)
			case "1", "true":
				out = append(out, true)
			default:
				return fmt.Errorf("default_left: unexpected value %q", strings.TrimSpace(v))
			}
		}
	}
	*f = out
	return nil
}

// model converts the wire form into a Model.
func (w *wireModel) model() (*Model, error) {
	l := &w.Learner
	m := &Model{
		Attributes:   l.Attributes,
		FeatureNames: l.FeatureNames,
		FeatureTypes: l.FeatureTypes,
	}
	if len(m.FeatureNames) == 0 {
		m.FeatureNames = nil
	}
	if len(m.FeatureTypes) == 0 {
		m.FeatureTypes = nil
	}
	if len(m.Attributes) == 0 {
		m.Attributes = nil
	}
	copy(m.Version[:], w.Version)

	var err error
	p := l.LearnerModelParam
	if p == nil {
		return nil, errors.New("missing learner.learner_model_param")
	}
	if m.BaseScore, err = paramFloat(p, "base_score", 0.5); err != nil {
		return nil, err
	}
	if m.NumClass, err = paramInt(p, "num_class", 0); err != nil {
		return nil, err
	}
	if m.NumFeature, err = paramInt(p, "num_feature", 0); err != nil {
		return nil, err
	}
	if nt, err := paramInt(p, "num_target", 1); err != nil {
		return nil, err
	} else if nt > 1 {
		return nil, fmt.Errorf("%w: num_target %d (multi-target trees)", ErrUnsupported, nt)
	}

	if err := m.readObjective(l.Objective); err != nil {
		return nil, err
	}

	gb := &l.GradientBooster
	var trees *wireGBTree
	switch gb.Name {
	case BoosterGBTree:
		m.Booster, trees = BoosterGBTree, gb.Model
	case BoosterDart:
		if gb.GBTree == nil {
			return nil, errors.New("dart booster without gbtree")
		}
		m.Booster, trees = BoosterDart, gb.GBTree.Model
		m.WeightDrop = gb.WeightDrop
		if m.WeightDrop == nil {
			m.WeightDrop = []float32{}
		}
	case "":
		return nil, errors.New("missing learner.gradient_booster.name")
	default:
		return nil, fmt.Errorf("%w: booster %q (only gbtree and dart)", ErrUnsupported, gb.Name)
	}
	if trees == nil {
		return nil, errors.New("missing gradient_booster model")
	}
	if m.NumParallelTree, err = paramInt(trees.Param, "num_parallel_tree", 1); err != nil {
		return nil, err
	}
	if n, err := paramInt(trees.Param, "num_trees", len(trees.Trees)); err != nil {
		return nil, err
	} else if n != len(trees.Trees) {
		return nil, fmt.Errorf("num_trees is %d but %d trees are stored", n, len(trees.Trees))
	}
	if len(trees.TreeInfo) != len(trees.Trees) {
		return nil, fmt.Errorf("tree_info has %d entries for %d trees", len(trees.TreeInfo), len(trees.Trees))
	}
	m.Trees = make([]Tree, len(trees.Trees))
	for i := range trees.Trees {
		if err := trees.Trees[i].into(&m.Trees[i]); err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
		m.Trees[i].Group = trees.TreeInfo[i]
	}
	return m, nil
}

// readObjective fills Objective and ObjectiveParams from learner.objective.
func (m *Model) readObjective(obj map[string]json.RawMessage) error {
	raw, ok := obj["name"]
	if !ok {
		return errors.New("missing learner.objective.name")
	}
	if err := json.Unmarshal(raw, &m.Objective); err != nil {
		return fmt.Errorf("learner.objective.name: %w", err)
	}
	for k, v := range obj {
		if k == "name" {
			continue
		}
		var params map[string]string
		if err := json.Unmarshal(v, &params); err != nil {
			// Parameter blocks are string maps; anything else carries nothing prediction needs.
			continue
		}
		for pk, pv := range params {
			if pk == "num_class" {
				continue
			}
			if m.ObjectiveParams == nil {
				m.ObjectiveParams = map[string]string{}
			}
			m.ObjectiveParams[pk] = pv
		}
	}
	return nil
}

// into converts one wire tree.
func (w *wireTree) into(t *Tree) error {
	n := len(w.LeftChildren)
	if nn, err := paramInt(w.TreeParam, "num_nodes", n); err != nil {
		return err
	} else if nn != n {
		return fmt.Errorf("num_nodes is %d but %d nodes are stored", nn, n)
	}
	if len(w.CategoriesNodes) > 0 || len(w.Categories) > 0 || slices.ContainsFunc(w.SplitType, func(v int32) bool { return v != 0 }) {
		return fmt.Errorf("%w: categorical splits", ErrUnsupported)
	}
	if sl, err := paramInt(w.TreeParam, "size_leaf_vector", 0); err != nil {
		return err
	} else if sl > 1 {
		return fmt.Errorf("%w: vector leaves (size_leaf_vector %d)", ErrUnsupported, sl)
	}
	t.LeftChildren = w.LeftChildren
	t.RightChildren = w.RightChildren
	t.Parents = w.Parents
	t.SplitConditions = w.SplitConditions
	t.DefaultLeft = w.DefaultLeft
	t.BaseWeights = w.BaseWeights
	t.LossChanges = w.LossChanges
	t.SumHessian = w.SumHessian
	t.SplitIndices = make([]int32, len(w.SplitIndices))
	for i, v := range w.SplitIndices {
		if v < 0 || v > math.MaxInt32 {
			return fmt.Errorf("node %d: split index %d out of range", i, v)
		}
		t.SplitIndices[i] = int32(v)
	}
	return nil
}

func paramInt(p map[string]string, key string, def int) (int, error) {
	s, ok := p[key]
	if !ok {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("parameter %s: %q is not an integer", key, s)
	}
	return v, nil
}

func paramFloat(p map[string]string, key string, def float32) (float32, error) {
	s, ok := p[key]
	if !ok {
		return def, nil
	}
	v, err := strconv.ParseFloat(s, 32)
	if err != nil {
		return 0, fmt.Errorf("parameter %s: %q is not a number", key, s)
	}
	return float32(v), nil
}

// WriteJSON writes the model in XGBoost 1.7's JSON model format, which real XGBoost loads
// with Booster.load_model (whatever the file name: XGBoost recognises JSON by its first
// bytes). The model is validated first.
func (m *Model) WriteJSON(w io.Writer) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("xgboost write: %w", err)
	}
	info, _ := lookupObjective(m.Objective)
	nodes := 0
	for i := range m.Trees {
		nodes += m.Trees[i].NumNodes()
	}
	b := make([]byte, 0, 4096+nodes*80) // about 80 bytes of JSON per node

	b = append(b, `{"learner":{"attributes":`...)
	b = appendStringMap(b, m.Attributes)
	b = append(b, `,"feature_names":`...)
	b = appendStrings(b, m.FeatureNames)
	b = append(b, `,"feature_types":`...)
	b = appendStrings(b, m.FeatureTypes)
	b = append(b, `,"gradient_booster":`...)
	if m.Booster == BoosterDart {
		b = append(b, `{"gbtree":`...)
		b = m.appendGBTree(b)
		b = append(b, `,"name":"dart","weight_drop":`...)
		b = appendFloats(b, m.WeightDrop)
		b = append(b, '}')
	} else {
		b = m.appendGBTree(b)
	}
	b = append(b, `,"learner_model_param":`...)
	b = appendStringMap(b, map[string]string{
		"base_score":         formatFloat32(m.BaseScore),
		"boost_from_average": "1",
		"num_class":          strconv.Itoa(m.NumClass),
		"num_feature":        strconv.Itoa(m.NumFeature),
		"num_target":         "1",
	})
	b = append(b, `,"objective":{"name":`...)
	b = appendString(b, info.name)
	if info.paramKey != "" {
		params := make(map[string]string, len(info.defaults)+1)
		for k, v := range info.defaults {
			params[k] = v
		}
		for k, v := range m.ObjectiveParams {
			params[k] = v
		}
		if info.multiclass {
			params["num_class"] = strconv.Itoa(m.NumClass)
		}
		b = append(b, ',')
		b = appendString(b, info.paramKey)
		b = append(b, ':')
		b = appendStringMap(b, params)
	}
	b = append(b, `}},"version":[`...)
	for i, v := range xgboostVersion {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	b = append(b, "]}\n"...)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("xgboost write: %w", err)
	}
	return nil
}

// appendGBTree writes the {"model":...,"name":"gbtree"} object.
func (m *Model) appendGBTree(b []byte) []byte {
	npt := max(m.NumParallelTree, 1)
	b = append(b, `{"model":{"gbtree_model_param":`...)
	b = appendStringMap(b, map[string]string{
		"num_parallel_tree": strconv.Itoa(npt),
		"num_trees":         strconv.Itoa(len(m.Trees)),
		"size_leaf_vector":  "0",
	})
	b = append(b, `,"tree_info":[`...)
	for i := range m.Trees {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(m.Trees[i].Group), 10)
	}
	b = append(b, `],"trees":[`...)
	for i := range m.Trees {
		if i > 0 {
			b = append(b, ',')
		}
		b = m.Trees[i].appendJSON(b, i, m.NumFeature)
	}
	b = append(b, `]},"name":"gbtree"}`...)
	return b
}

// appendJSON writes one tree with every field XGBoost 1.7 writes, keys in its order.
func (t *Tree) appendJSON(b []byte, id, numFeature int) []byte {
	n := t.NumNodes()
	parents := t.Parents
	if parents == nil {
		parents = t.derivedParents()
	}
	deleted, splitType := 0, make([]int32, n)
	for _, s := range t.SplitIndices {
		if s == DeletedNode {
			deleted++
		}
	}
	b = append(b, `{"base_weights":`...)
	b = appendFloatsOrZero(b, t.BaseWeights, n)
	b = append(b, `,"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[],"default_left":[`...)
	for i, d := range t.DefaultLeft {
		if i > 0 {
			b = append(b, ',')
		}
		if d {
			b = append(b, '1')
		} else {
			b = append(b, '0')
		}
	}
	b = append(b, `],"id":`...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, `,"left_children":`...)
	b = appendInts(b, t.LeftChildren)
	b = append(b, `,"loss_changes":`...)
	b = appendFloatsOrZero(b, t.LossChanges, n)
	b = append(b, `,"parents":`...)
	b = appendInts(b, parents)
	b = append(b, `,"right_children":`...)
	b = appendInts(b, t.RightChildren)
	b = append(b, `,"split_conditions":`...)
	b = appendFloats(b, t.SplitConditions)
	b = append(b, `,"split_indices":`...)
	b = appendInts(b, t.SplitIndices)
	b = append(b, `,"split_type":`...)
	b = appendInts(b, splitType)
	b = append(b, `,"sum_hessian":`...)
	b = appendFloatsOrZero(b, t.SumHessian, n)
	b = append(b, `,"tree_param":`...)
	b = appendStringMap(b, map[string]string{
		"num_deleted":      strconv.Itoa(deleted),
		"num_feature":      strconv.Itoa(numFeature),
		"num_nodes":        strconv.Itoa(n),
		"size_leaf_vector": "0",
	})
	return append(b, '}')
}

// derivedParents computes Parents from the child arrays (NoParent for unreachable nodes too).
func (t *Tree) derivedParents() []int32 {
	p := make([]int32, t.NumNodes())
	for i := range p {
		p[i] = NoParent
	}
	for i := range p {
		if l := t.LeftChildren[i]; l > 0 {
			p[l] = int32(i)
		}
		if r := t.RightChildren[i]; r > 0 {
			p[r] = int32(i)
		}
	}
	return p
}

func appendInts(b []byte, v []int32) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return append(b, ']')
}

func appendFloats(b []byte, v []float32) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat32(b, x)
	}
	return append(b, ']')
}

// appendFloatsOrZero writes v, or n zeros when v is nil.
func appendFloatsOrZero(b []byte, v []float32, n int) []byte {
	if v != nil {
		return appendFloats(b, v)
	}
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "0.0"...)
	}
	return append(b, ']')
}

// appendFloat32 writes the shortest decimal that reads back as the same float32. XGBoost's
// reader types a number without '.' or an exponent as an integer and then refuses it where
// a float is expected, so integral values get a ".0". Non-finite values (which valid trees
// never hold in these statistics) are written as XGBoost writes them.
func appendFloat32(b []byte, x float32) []byte {
	f := float64(x)
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 32)
	if bytes.IndexAny(b[start:], ".e") < 0 {
		b = append(b, ".0"...)
	}
	return b
}

// formatFloat32 is appendFloat32 for parameter strings.
func formatFloat32(x float32) string { return string(appendFloat32(nil, x)) }

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

func appendStrings(b []byte, v []string) []byte {
	b = append(b, '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendStringMap writes a string map with sorted keys, as XGBoost does.
func appendStringMap(b []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}
