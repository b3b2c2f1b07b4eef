package jobs

import (
	"os"
	"strings"

	"github.com/sluice-ml/sluice/internal/runtime"
)

// The process runtime starts every job through its init shim: it re-executes the running
// binary as `<binary> runtime-init <spec>`, and that child prepares the job's namespaces and
// execs the job. Any binary that runs jobs must therefore answer that command line before doing
// anything else; answering it here, while the package initialises, covers the sluice binary and
// every test binary that starts a server, without each of them having to dispatch it.
func init() {
	if len(os.Args) == 3 && os.Args[1] == runtime.InitCommand && strings.HasPrefix(os.Args[2], "{") {
		os.Exit(runtime.InitMain(os.Args[2:]))
	}
}
