// Package deploy holds the example deploy pipeline and its two environment files, embedded so
// project templates render from the same text the example documents.
package deploy

import _ "embed"

// Definition is pipeline.json: staging deploy, endpoint tests, manual gate, CANARY production.
//
//go:embed pipeline.json
var Definition string

// StagingConfig is staging-config.json, the staging environment.
//
//go:embed staging-config.json
var StagingConfig string

// ProdConfig is prod-config.json, the production environment.
//
//go:embed prod-config.json
var ProdConfig string
