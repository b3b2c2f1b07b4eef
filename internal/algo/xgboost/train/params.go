package train

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Params are the training hyperparameters, named and defaulted as SageMaker's built-in
// XGBoost algorithm (and XGBoost 1.7) name and default them. Floating-point parameters are
// float32 because XGBoost keeps them so, and the split arithmetic depends on it.
type Params struct {
	// NumRound is the number of boosting rounds (num_round, required by SageMaker).
	NumRound int
	// MaxDepth is the maximum tree depth (max_depth, default 6).
	MaxDepth int
	// Eta shrinks every leaf (eta or learning_rate, default 0.3).
	Eta float32
	// Gamma is the minimum loss reduction a split must reach (gamma or min_split_loss).
	Gamma float32
	// MinChildWeight is the minimum hessian sum in a child (min_child_weight, default 1).
	MinChildWeight float32
	// Subsample is the fraction of rows each tree sees (subsample, default 1).
	Subsample float32
	// ColsampleByTree, ColsampleByLevel and ColsampleByNode are the fractions of features
	// sampled per tree, per depth and per node (default 1).
	ColsampleByTree, ColsampleByLevel, ColsampleByNode float32
	// Lambda and Alpha are the L2 and L1 penalties on leaf weights (lambda/reg_lambda,
	// default 1; alpha/reg_alpha, default 0).
	Lambda, Alpha float32
	// MaxDeltaStep caps the size of a leaf weight (max_delta_step); 0 means no cap.
	// XGBoost uses 0.7 for count:poisson unless it is set.
	MaxDeltaStep float32
	// MaxBin is the number of histogram bins per feature (max_bin, default 256).
	MaxBin int
	// Objective is the learning objective (objective, default reg:squarederror).
	Objective string
	// EvalMetrics are the metrics reported every round (eval_metric); empty means the
	// objective's default. Early stopping watches the last one.
	EvalMetrics []string
	// EarlyStoppingRounds stops training when the last metric on the last evaluation set
	// has not improved for this many rounds (early_stopping_rounds); 0 disables it.
	EarlyStoppingRounds int
	// NumClass is the number of classes for multi:softprob and multi:softmax (num_class).
	NumClass int
	// ScalePosWeight multiplies the weight of positive rows for logistic objectives
	// (scale_pos_weight, default 1).
	ScalePosWeight float32
	// BaseScore is the initial prediction in output space (base_score, default 0.5).
	BaseScore float32
	// Seed seeds row and column sampling (seed, default 0).
	Seed uint64
	// NThread is the number of worker goroutines (nthread); 0 means GOMAXPROCS.
	NThread int
	// CSVWeights says the second CSV column holds instance weights (csv_weights=1).
	CSVWeights bool

	// maxDeltaStepSet records that max_delta_step was given explicitly.
	maxDeltaStepSet bool
}

// DefaultParams returns XGBoost 1.7's defaults (NumRound is left 0: it must be given).
func DefaultParams() Params {
	return Params{
		MaxDepth:         6,
		Eta:              0.3,
		MinChildWeight:   1,
		Subsample:        1,
		ColsampleByTree:  1,
		ColsampleByLevel: 1,
		ColsampleByNode:  1,
		Lambda:           1,
		MaxBin:           256,
		Objective:        "reg:squarederror",
		ScalePosWeight:   1,
		BaseScore:        0.5,
	}
}

// ignoredHyperParameters are accepted for compatibility with SageMaker's XGBoost algorithm
// and do not change what this trainer does (it always grows depthwise histogram trees on
// the CPU, and prints every round).
var ignoredHyperParameters = []string{
	"tree_method", "verbosity", "silent", "sketch_eps", "updater", "refresh_leaf",
	"process_type", "predictor", "single_precision_histogram", "deterministic_histogram",
	"save_model_on_termination", "_kfold", "_num_cv_round", "sampling_method",
	"disable_default_eval_metric", "validate_parameters",
}

// ParseParams reads SageMaker hyperparameters (string to string). A value may be plain ("5")
// or JSON-encoded as the SageMaker SDK writes framework hyperparameters ("\"5\""). Keys of
// the training toolkit (sagemaker_*, _tuning_objective_metric) are skipped; any other
// unknown key is an error, as it is for SageMaker's algorithm.
func ParseParams(hps map[string]string) (Params, error) {
	p := DefaultParams()
	keys := make([]string, 0, len(hps))
	for k := range hps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := decodeValue(hps[k])
		if err := p.set(k, v); err != nil {
			return p, fmt.Errorf("hyperparameter %s=%q: %w", k, v, err)
		}
	}
	if _, ok := hps["num_round"]; !ok {
		return p, fmt.Errorf("hyperparameter num_round is required")
	}
	return p, p.Validate()
}

// decodeValue undoes the JSON string encoding the SageMaker SDK applies to some values.
func decodeValue(raw string) string {
	s := strings.TrimSpace(raw)
	if len(s) >= 2 && s[0] == '"' {
		var out string
		if err := json.Unmarshal([]byte(s), &out); err == nil {
			return strings.TrimSpace(out)
		}
	}
	return s
}

func (p *Params) set(key, v string) error {
	switch key {
	case "num_round":
		return parseInt(v, &p.NumRound)
	case "max_depth":
		return parseInt(v, &p.MaxDepth)
	case "eta", "learning_rate":
		return parseFloat(v, &p.Eta)
	case "gamma", "min_split_loss":
		return parseFloat(v, &p.Gamma)
	case "min_child_weight":
		return parseFloat(v, &p.MinChildWeight)
	case "subsample":
		return parseFloat(v, &p.Subsample)
	case "colsample_bytree":
		return parseFloat(v, &p.ColsampleByTree)
	case "colsample_bylevel":
		return parseFloat(v, &p.ColsampleByLevel)
	case "colsample_bynode":
		return parseFloat(v, &p.ColsampleByNode)
	case "lambda", "reg_lambda":
		return parseFloat(v, &p.Lambda)
	case "alpha", "reg_alpha":
		return parseFloat(v, &p.Alpha)
	case "max_delta_step":
		p.maxDeltaStepSet = true
		return parseFloat(v, &p.MaxDeltaStep)
	case "max_bin":
		return parseInt(v, &p.MaxBin)
	case "objective":
		p.Objective = v
	case "eval_metric":
		p.EvalMetrics = p.EvalMetrics[:0]
		for _, m := range strings.Split(strings.Trim(v, "[]"), ",") {
			m = strings.Trim(strings.TrimSpace(m), `"'`)
			if m != "" {
				p.EvalMetrics = append(p.EvalMetrics, m)
			}
		}
	case "early_stopping_rounds":
		return parseInt(v, &p.EarlyStoppingRounds)
	case "num_class":
		return parseInt(v, &p.NumClass)
	case "scale_pos_weight":
		return parseFloat(v, &p.ScalePosWeight)
	case "base_score":
		return parseFloat(v, &p.BaseScore)
	case "seed", "random_state":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		p.Seed = uint64(n)
	case "nthread", "n_jobs":
		return parseInt(v, &p.NThread)
	case "csv_weights":
		var n int
		if err := parseInt(v, &n); err != nil {
			return err
		}
		p.CSVWeights = n != 0
	case "booster":
		if v != "gbtree" {
			return fmt.Errorf("only booster gbtree is supported")
		}
	case "grow_policy":
		if v != "depthwise" {
			return fmt.Errorf("only grow_policy depthwise is supported")
		}
	case "num_parallel_tree":
		var n int
		if err := parseInt(v, &n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("only num_parallel_tree 1 is supported")
		}
	case "max_leaves":
		var n int
		if err := parseInt(v, &n); err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("max_leaves is not supported (use max_depth)")
		}
	default:
		if strings.HasPrefix(key, "sagemaker_") || key == "_tuning_objective_metric" ||
			slices.Contains(ignoredHyperParameters, key) {
			return nil
		}
		return fmt.Errorf("unknown hyperparameter")
	}
	return nil
}

func parseInt(v string, out *int) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		// SageMaker's tuner writes integers as floats ("5.0").
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			return fmt.Errorf("not an integer")
		}
		n = int(f)
	}
	*out = n
	return nil
}

func parseFloat(v string, out *float32) error {
	f, err := strconv.ParseFloat(v, 32)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("not a number")
	}
	*out = float32(f)
	return nil
}

// Validate checks ranges the way XGBoost does and resolves objective-dependent defaults.
func (p *Params) Validate() error {
	obj, err := lookupObjective(p.Objective)
	if err != nil {
		return err
	}
	checks := []struct {
		ok  bool
		msg string
	}{
		{p.NumRound >= 1, "num_round must be at least 1"},
		{p.MaxDepth >= 1, "max_depth must be at least 1 (depthwise growth)"},
		{p.Eta >= 0, "eta must be >= 0"},
		{p.Gamma >= 0, "gamma must be >= 0"},
		{p.MinChildWeight >= 0, "min_child_weight must be >= 0"},
		{p.Subsample > 0 && p.Subsample <= 1, "subsample must be in (0, 1]"},
		{p.ColsampleByTree > 0 && p.ColsampleByTree <= 1, "colsample_bytree must be in (0, 1]"},
		{p.ColsampleByLevel > 0 && p.ColsampleByLevel <= 1, "colsample_bylevel must be in (0, 1]"},
		{p.ColsampleByNode > 0 && p.ColsampleByNode <= 1, "colsample_bynode must be in (0, 1]"},
		{p.Lambda >= 0, "lambda must be >= 0"},
		{p.Alpha >= 0, "alpha must be >= 0"},
		{p.MaxDeltaStep >= 0, "max_delta_step must be >= 0"},
		{p.MaxBin >= 2 && p.MaxBin <= 65534, "max_bin must be in [2, 65534]"},
		{p.EarlyStoppingRounds >= 0, "early_stopping_rounds must be >= 0"},
		{p.ScalePosWeight > 0, "scale_pos_weight must be > 0"},
		{p.NThread >= 0, "nthread must be >= 0"},
		{p.MaxDepth <= 30, "max_depth must be at most 30"},
	}
	for _, c := range checks {
		if !c.ok {
			return fmt.Errorf("invalid hyperparameters: %s", c.msg)
		}
	}
	if obj.multiclass {
		if p.NumClass < 2 {
			return fmt.Errorf("invalid hyperparameters: objective %s needs num_class >= 2 (num_class is %s)",
				p.Objective, map[bool]string{true: "missing", false: strconv.Itoa(p.NumClass)}[p.NumClass == 0])
		}
	} else if p.NumClass > 1 {
		return fmt.Errorf("invalid hyperparameters: num_class=%d needs a multi-class objective (multi:softprob or multi:softmax), not %s", p.NumClass, p.Objective)
	}
	switch obj.link {
	case linkLogit:
		if !(p.BaseScore > 0 && p.BaseScore < 1) {
			return fmt.Errorf("invalid hyperparameters: base_score must be in (0, 1) for %s", p.Objective)
		}
	case linkLog:
		if !(p.BaseScore > 0) {
			return fmt.Errorf("invalid hyperparameters: base_score must be > 0 for %s", p.Objective)
		}
	}
	for _, m := range p.EvalMetrics {
		if _, err := lookupMetric(m); err != nil {
			return err
		}
	}
	if !p.maxDeltaStepSet && p.MaxDeltaStep == 0 && obj.kind == objPoisson {
		// XGBoost's learner sets this for count:poisson to keep exp() steps safe.
		p.MaxDeltaStep = 0.7
	}
	return nil
}
