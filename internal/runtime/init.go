package runtime

import (
	"encoding/json"
	"fmt"
	"os"
)

// Exit codes of the init shim when it cannot start the job, as docker reports
// them for `docker run`.
const (
	exitSetupFailed = 125
	exitCannotExec  = 126
	exitNotFound    = 127
)

// InitMain is the hidden `sluice runtime-init` command: inside the namespaces the
// runtime created, it mounts the job's workspace at /opt/ml, brings loopback up
// when the job has its own network namespace, and execs the job. args are the
// arguments after the command name. It returns only when it fails, with the exit
// code to use; the reason goes to the runtime over the status descriptor.
func InitMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintf(os.Stderr, "usage: %s <spec>: started by the sluice runtime, not by hand\n", InitCommand)
		return 2
	}
	var spec initSpec
	if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "%s: bad spec: %v\n", InitCommand, err)
		return 2
	}
	status := os.NewFile(uintptr(spec.StatusFD), "status")
	if status == nil {
		fmt.Fprintf(os.Stderr, "%s: bad status descriptor %d\n", InitCommand, spec.StatusFD)
		return 2
	}
	code, err := runInit(spec, status)
	if err != nil {
		// The runtime reads this as the reason Start failed.
		if _, werr := fmt.Fprintf(status, "%v", err); werr != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", InitCommand, err)
		}
	}
	return code
}
