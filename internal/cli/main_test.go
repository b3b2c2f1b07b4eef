package cli

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for the sluice binary: servers started by these tests
// re-execute their own executable as `sluice algo …` to run built-in images.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "algo" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}
