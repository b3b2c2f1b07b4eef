//go:build !unix

package blob

import (
	"errors"
	"os"
)

// linkInto is not available here; callers copy instead.
func linkInto(string, *os.File, string) error { return errors.ErrUnsupported }
