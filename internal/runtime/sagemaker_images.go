package runtime

import (
	"maps"
	"regexp"
	"slices"
)

// firstPartyImage describes one of SageMaker's own ECR repositories.
type firstPartyImage struct {
	// builtin names the built-in algorithm that stands for the image's own
	// trainer and server; empty when the image only runs user code.
	builtin string
	// builtinModes are the modes the built-in serves by default.
	builtinModes []Mode
	// scriptMode marks framework images whose training mode runs
	// sagemaker_program from sagemaker_submit_directory.
	scriptMode bool
	// why explains, in errors, what the image cannot do by itself here.
	why string
}

// firstPartyImages is keyed by ECR repository name. The account and region of the
// URI do not matter: SageMaker publishes the same repositories from an account
// per region.
var firstPartyImages = map[string]firstPartyImage{
	// The XGBoost framework image: built-in algorithm mode and script mode.
	"sagemaker-xgboost": {builtin: "xgboost", builtinModes: []Mode{ModeTrain, ModeServe}, scriptMode: true},
	// The older XGBoost built-in algorithm image (xgboost:1, 0.90-x).
	"xgboost": {builtin: "xgboost", builtinModes: []Mode{ModeTrain, ModeServe}},
	// Framework images: user code only.
	"sagemaker-scikit-learn":          {scriptMode: true, why: "scikit-learn serving runs user inference code, which sluice does not host"},
	"pytorch-training":                {scriptMode: true},
	"tensorflow-training":             {scriptMode: true},
	"mxnet-training":                  {scriptMode: true},
	"huggingface-pytorch-training":    {scriptMode: true},
	"huggingface-tensorflow-training": {scriptMode: true},
	"pytorch-inference":               {why: "framework serving runs user inference code, which sluice does not host"},
	"tensorflow-inference":            {why: "framework serving runs user inference code, which sluice does not host"},
	"mxnet-inference":                 {why: "framework serving runs user inference code, which sluice does not host"},
	"huggingface-pytorch-inference":   {why: "framework serving runs user inference code, which sluice does not host"},
}

// ecrImage matches <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/<repository>[:tag][@digest].
var ecrImage = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+)(?::[A-Za-z0-9._-]+)?(?:@sha256:[0-9a-f]{64})?$`)

// firstPartyRepository returns the repository of an ECR image URI.
func firstPartyRepository(image string) (string, bool) {
	m := ecrImage.FindStringSubmatch(image)
	if m == nil {
		return "", false
	}
	return m[1], true
}

func firstPartyNames() []string {
	return slices.Sorted(maps.Keys(firstPartyImages))
}
