package runtime

import (
	"os"
	"strings"
)

// Jobs of a server that is not root start through the init shim: the running binary
// re-executed as `<binary> runtime-init <spec>`. Answering that command line while this package
// initialises covers the sluice binary and every test binary that starts jobs, without each
// of them dispatching it, and skips the initialisation of the packages that sort after this
// one, which shortens every job's start.
func init() {
	if len(os.Args) == 3 && os.Args[1] == InitCommand && strings.HasPrefix(os.Args[2], "{") {
		os.Exit(InitMain(os.Args[2:]))
	}
}
