// Package abalone holds the abalone build pipeline: SageMaker's classic example (preprocess,
// train, evaluate, condition on the MSE, register) written with Sluice's built-in images.
package abalone

import _ "embed"

// Definition is pipeline.json, embedded so `sluice demo` runs from the binary alone.
//
//go:embed pipeline.json
var Definition string

// ModelPackageGroup is the registry group the pipeline registers versions in.
const ModelPackageGroup = "AbaloneModelPackageGroup"
