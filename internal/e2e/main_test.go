package e2e

import (
	"os"
	"testing"

	"github.com/sluice-ml/sluice/internal/cli"
)

// TestMain lets the test binary stand in for the sluice binary: the servers these suites start
// re-execute their own executable as `sluice algo …` to run built-in images (the XGBoost
// trainer of SageMaker's XGBoost image).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "algo" {
		os.Exit(cli.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}
