//go:build !unix

package jobs

import "os"

// singleLink cannot tell here; files are assumed to have one name.
func singleLink(os.FileInfo) bool { return true }
