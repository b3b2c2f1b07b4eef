package jobs_test

import (
	"context"
	"os"
	"syscall"

	"github.com/sluice-ml/sluice/internal/cli"
)

// serverEnv makes the test binary run `sluice` with its arguments, so that a test can start a
// real server process and kill it.
const serverEnv = "SLUICE_JOBS_TEST_SERVER"

func runServer(args []string) int {
	return cli.Run(context.Background(), args, os.Stdout, os.Stderr)
}

// groupAlive reports whether a process group still has members.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || err == syscall.EPERM
}
