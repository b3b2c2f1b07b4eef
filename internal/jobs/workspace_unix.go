//go:build unix

package jobs

import (
	"os"
	"syscall"
)

// singleLink reports whether the file has no name but this one.
func singleLink(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || st.Nlink == 1
}
