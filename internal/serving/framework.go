package serving

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/runtime"
)

// frameworkServer is the Python server that gives SageMaker's framework images (scikit-learn,
// XGBoost script mode) the inference toolkit's contract on the host's interpreter.
//
//go:embed framework/sagemaker_serve.py
var frameworkServer []byte

// shim writes the framework server into the work folder once and returns its path.
func (h *Host) shim() (string, error) {
	h.shimOnce.Do(func() {
		p := filepath.Join(h.workDir, "sagemaker_serve.py")
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, frameworkServer, 0o644); err != nil {
			h.shimErr = fmt.Errorf("serving: write the framework server: %w", err)
			return
		}
		if err := os.Rename(tmp, p); err != nil {
			h.shimErr = fmt.Errorf("serving: write the framework server: %w", err)
			return
		}
		h.shimPath = p
	})
	return h.shimPath, h.shimErr
}

// frameworkCommand prepares a framework container: the user's code (SAGEMAKER_SUBMIT_DIRECTORY
// as an s3:// sourcedir.tar.gz is unpacked to /opt/ml/code; otherwise the code travels in the
// model archive's code/ folder) and the command that runs the framework server on the image's
// Python.
func (h *Host) frameworkCommand(ctx context.Context, c ContainerSpec, framework, ws string, env []string) (runtime.Command, []string, error) {
	shim, err := h.shim()
	if err != nil {
		return runtime.Command{}, nil, err
	}
	if src := c.Environment["SAGEMAKER_SUBMIT_DIRECTORY"]; strings.HasPrefix(src, "s3://") {
		u, err := blob.ParseURI(src)
		if err != nil {
			return runtime.Command{}, nil, fmt.Errorf("SAGEMAKER_SUBMIT_DIRECTORY: %w", err)
		}
		rc, err := h.blob.Get(ctx, u)
		if err != nil {
			if errors.Is(err, blob.ErrNotExist) {
				return runtime.Command{}, nil, fmt.Errorf("SAGEMAKER_SUBMIT_DIRECTORY %s does not exist", src)
			}
			return runtime.Command{}, nil, fmt.Errorf("SAGEMAKER_SUBMIT_DIRECTORY %s: %w", src, err)
		}
		err = blob.UnpackTarGz(rc, filepath.Join(ws, "code"))
		rc.Close()
		if err != nil {
			return runtime.Command{}, nil, fmt.Errorf("SAGEMAKER_SUBMIT_DIRECTORY %s: %w", src, err)
		}
		env = append(env, "SAGEMAKER_SUBMIT_DIRECTORY="+runtime.CodeDir)
	}
	cmd, err := h.catalog.Resolve(runtime.Request{Image: c.Image, Mode: runtime.ModeServe, Entrypoint: []string{"python3", shim}})
	if err != nil {
		return runtime.Command{}, nil, fmt.Errorf("serving: %w", err)
	}
	env = append(env, "SLUICE_FRAMEWORK="+framework, "SM_MODEL_DIR="+runtime.ModelDir)
	return cmd, env, nil
}
