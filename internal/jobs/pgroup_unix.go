//go:build unix

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
