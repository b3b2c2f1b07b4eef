//go:build unix && !linux

package jobs

import (
	"errors"
	"syscall"
)

// processGroupAlive reports whether any process of the group still exists.
func processGroupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// endLeftovers cannot tell here whether a live process group is the job's, so it refuses.
func endLeftovers(pgid int, arn string) error {
	if !processGroupAlive(pgid) {
		return nil
	}
	return errors.New("its processes cannot be identified on this system")
}
