//go:build !linux

package runtime

import (
	"errors"
	"os"
)

func runInit(initSpec, *os.File) (int, error) {
	return exitSetupFailed, errors.New(InitCommand + " needs Linux namespaces")
}
