package runtime

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// Paths of SageMaker's container contract, as a job sees them.
const (
	// OptML is where the job's workspace appears.
	OptML = "/opt/ml"
	// CodeDir holds script-mode source (sagemaker_submit_directory, unpacked).
	CodeDir = "/opt/ml/code"
	// ModelDir is the trained model (training output, serving input).
	ModelDir = "/opt/ml/model"
	// InputDir holds a training job's configuration and data.
	InputDir = "/opt/ml/input"
	// InputConfigDir holds hyperparameters.json, inputdataconfig.json and resourceconfig.json.
	InputConfigDir = "/opt/ml/input/config"
	// InputDataDir holds one folder per training channel.
	InputDataDir = "/opt/ml/input/data"
	// OutputDir holds the failure file and output data.
	OutputDir = "/opt/ml/output"
	// OutputDataDir is tarred to output.tar.gz after training.
	OutputDataDir = "/opt/ml/output/data"
	// OutputIntermediateDir is uploaded continuously during training.
	OutputIntermediateDir = "/opt/ml/output/intermediate"
	// FailureFile holds the failure reason a job writes before exiting non-zero.
	FailureFile = "/opt/ml/output/failure"
	// CheckpointDir is the default CheckpointConfig.LocalPath.
	CheckpointDir = "/opt/ml/checkpoints"
	// ProcessingDir is the root of processing inputs and outputs.
	ProcessingDir = "/opt/ml/processing"
	// ProcessingConfigDir holds processingjobconfig.json and resourceconfig.json.
	ProcessingConfigDir = "/opt/ml/config"
)

// HostPath maps a path inside /opt/ml (as a job sees it) to the same file in the
// workspace folder on the host. It refuses paths outside /opt/ml and paths that
// climb out of it.
func HostPath(workspace, jobPath string) (string, error) {
	if !path.IsAbs(jobPath) {
		return "", fmt.Errorf("runtime: path %q is not absolute", jobPath)
	}
	clean := path.Clean(jobPath)
	rel, ok := strings.CutPrefix(clean, OptML)
	if !ok || (rel != "" && rel[0] != '/') {
		return "", fmt.Errorf("runtime: path %q is not under %s", jobPath, OptML)
	}
	return filepath.Join(workspace, filepath.FromSlash(rel)), nil
}
