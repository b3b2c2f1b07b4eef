package xgboost

import "math"

// link maps a base_score in output space to the margin XGBoost starts from.
type link uint8

const (
	linkIdentity link = iota
	linkLogit
	linkLog
)

// margin applies the link in float32 the way XGBoost's ProbToMargin does.
func (l link) margin(baseScore float32) float32 {
	switch l {
	case linkLogit:
		return -float32(math.Log(float64(1/baseScore - 1)))
	case linkLog:
		return float32(math.Log(float64(baseScore)))
	}
	return baseScore
}

// transform is what XGBoost's PredTransform does to margins for predict (not output_margin).
type transform uint8

const (
	transformIdentity transform = iota
	transformSigmoid
	transformExp
	transformSoftmax
	transformArgmax
	transformHinge
)

// objectiveInfo describes one XGBoost objective: how it is written in a model file and how
// its margins become predictions.
type objectiveInfo struct {
	// name is the name XGBoost writes (reg:linear is written as reg:squarederror).
	name string
	// paramKey names the objective's parameter block in the model JSON, "" when it has none.
	paramKey string
	// defaults are the parameter block's entries when the model does not set them.
	defaults  map[string]string
	link      link
	transform transform
	// multiclass objectives need num_class >= 2 and produce one margin per class.
	multiclass bool
}

var regLossDefaults = map[string]string{"scale_pos_weight": "1"}

// objectives lists the objectives Sluice can write and predict, with XGBoost 1.7's
// parameter blocks and transforms.
var objectives = map[string]objectiveInfo{
	"reg:squarederror":     {name: "reg:squarederror", paramKey: "reg_loss_param", defaults: regLossDefaults},
	"reg:linear":           {name: "reg:squarederror", paramKey: "reg_loss_param", defaults: regLossDefaults},
	"reg:squaredlogerror":  {name: "reg:squaredlogerror", paramKey: "reg_loss_param", defaults: regLossDefaults},
	"reg:pseudohubererror": {name: "reg:pseudohubererror", paramKey: "pseudo_huber_param", defaults: map[string]string{"huber_slope": "1"}},
	"reg:absoluteerror":    {name: "reg:absoluteerror"},
	"reg:logistic":         {name: "reg:logistic", paramKey: "reg_loss_param", defaults: regLossDefaults, link: linkLogit, transform: transformSigmoid},
	"binary:logistic":      {name: "binary:logistic", paramKey: "reg_loss_param", defaults: regLossDefaults, link: linkLogit, transform: transformSigmoid},
	"binary:logitraw":      {name: "binary:logitraw", paramKey: "reg_loss_param", defaults: regLossDefaults},
	"binary:hinge":         {name: "binary:hinge", transform: transformHinge},
	"count:poisson":        {name: "count:poisson", paramKey: "poisson_regression_param", defaults: map[string]string{"max_delta_step": "0.699999988"}, link: linkLog, transform: transformExp},
	"reg:gamma":            {name: "reg:gamma", link: linkLog, transform: transformExp},
	"reg:tweedie":          {name: "reg:tweedie", paramKey: "tweedie_regression_param", defaults: map[string]string{"tweedie_variance_power": "1.5"}, link: linkLog, transform: transformExp},
	"survival:cox":         {name: "survival:cox", link: linkLog, transform: transformExp},
	"multi:softprob":       {name: "multi:softprob", paramKey: "softmax_multiclass_param", multiclass: true, transform: transformSoftmax},
	"multi:softmax":        {name: "multi:softmax", paramKey: "softmax_multiclass_param", multiclass: true, transform: transformArgmax},
	"rank:pairwise":        {name: "rank:pairwise", paramKey: "lambda_rank_param", defaults: map[string]string{"fix_list_weight": "0", "num_pairsample": "1"}},
	"rank:ndcg":            {name: "rank:ndcg", paramKey: "lambda_rank_param", defaults: map[string]string{"fix_list_weight": "0", "num_pairsample": "1"}},
	"rank:map":             {name: "rank:map", paramKey: "lambda_rank_param", defaults: map[string]string{"fix_list_weight": "0", "num_pairsample": "1"}},
}

// lookupObjective returns what Sluice knows about an objective name.
func lookupObjective(name string) (objectiveInfo, bool) {
	info, ok := objectives[name]
	return info, ok
}

// KnownObjective reports whether name is an objective this package can write and predict.
func KnownObjective(name string) bool {
	_, ok := objectives[name]
	return ok
}
