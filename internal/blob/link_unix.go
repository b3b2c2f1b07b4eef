//go:build unix

package blob

import (
	"os"

	"golang.org/x/sys/unix"
)

// linkInto makes the file at src known also as name in the open folder dir. The folder is
// reached through its descriptor, so the new name cannot land outside the store's root.
func linkInto(src string, dir *os.File, name string) error {
	return unix.Linkat(unix.AT_FDCWD, src, int(dir.Fd()), name, 0)
}
