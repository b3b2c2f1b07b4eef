//go:build !linux

package cli

import (
	"context"
	"io"
)

// runRootless has nothing to do where there are no user namespaces.
func runRootless(context.Context, []string, io.Writer, io.Writer) (int, bool) { return 0, false }
