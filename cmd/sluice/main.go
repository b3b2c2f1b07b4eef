// Command sluice is the Sluice MLOps control plane: server, demo and client in one binary.
package main

import (
	"os"

	"github.com/sluice-ml/sluice/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
