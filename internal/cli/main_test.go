package cli

import (
	"os"
	"testing"
)

// mainEnv makes the test binary run as the whole sluice command line.
const mainEnv = "SLUICE_CLI_TEST_MAIN"

// TestMain lets the test binary stand in for the sluice binary: servers started by these tests
// re-execute their own executable as `sluice algo …` to run built-in images, and a test may run
// it as `sluice …` with mainEnv set.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "algo" || os.Getenv(mainEnv) != "" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}
