package runtime

import (
	"os"
	goruntime "runtime"
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
	// Jobs' namespaces are made on threads that end with the job. Go never ends the process's
	// main thread, so a goroutine that changed its namespaces there would leave them on it for
	// good; locking the main goroutine to the main thread from here keeps every other goroutine
	// off it.
	goruntime.LockOSThread()
}
