package runtime

import (
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

const (
	testExe    = "/usr/local/bin/sluice"
	testPython = "/usr/bin/python3"
	xgbURI     = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
	sklearnURI = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
	torchURI   = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.1-cpu-py310"
)

func testCatalog(t *testing.T, mappings ...Mapping) *Catalog {
	t.Helper()
	c, err := NewCatalog(CatalogConfig{Executable: testExe, Mappings: mappings})
	if err != nil {
		t.Fatalf("NewCatalog: %v", err)
	}
	// Resolution must not depend on the machine's PATH.
	c.lookPath = func(name string) (string, error) {
		if name == "python3" {
			return testPython, nil
		}
		return "", exec.ErrNotFound
	}
	return c
}

func TestCatalogResolve(t *testing.T) {
	pyEnv := []string{"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"}
	mappings := []Mapping{
		{Image: "registry.local/team/*", Entrypoint: []string{"/srv/bin/run-image", "--verbose"}, Env: []string{"TEAM=ml"}},
		{Image: "my-algo:1", Entrypoint: []string{"python3", "/srv/my_algo.py"}},
		// A mapping overrides a first-party image.
		{Image: "*.dkr.ecr.*.amazonaws.com/sagemaker-xgboost:0.90-*", Entrypoint: []string{"/srv/old-xgb"}},
	}
	tests := []struct {
		name string
		req  Request
		want Command
	}{
		{
			name: "built-in name with tag trains",
			req:  Request{Image: "sluice/xgboost:latest", Mode: ModeTrain},
			want: Command{Path: testExe, Args: []string{"algo", "xgboost", "train"}},
		},
		{
			name: "built-in name without tag processes",
			req:  Request{Image: "sluice/prep", Mode: ModeProcess},
			want: Command{Path: testExe, Args: []string{"algo", "prep", "process"}},
		},
		{
			name: "built-in serves",
			req:  Request{Image: "sluice/xgboost", Mode: ModeServe},
			want: Command{Path: testExe, Args: []string{"algo", "xgboost", "serve"}},
		},
		{
			name: "built-in with ContainerArguments replaces the mode argument",
			req:  Request{Image: "sluice/evaluate", Mode: ModeProcess, Arguments: []string{"process", "--metric", "mse"}},
			want: Command{Path: testExe, Args: []string{"algo", "evaluate", "process", "--metric", "mse"}},
		},
		{
			name: "built-in with entrypoint sluice means the sluice binary",
			req:  Request{Image: "sluice/synth", Mode: ModeProcess, Entrypoint: []string{"sluice", "algo", "synth", "process"}, Arguments: []string{"--rows", "10"}},
			want: Command{Path: testExe, Args: []string{"algo", "synth", "process", "--rows", "10"}},
		},
		{
			name: "SageMaker XGBoost without entrypoint runs the built-in trainer",
			req:  Request{Image: xgbURI, Mode: ModeTrain, HyperParameters: map[string]string{"objective": "reg:linear", "num_round": "50"}},
			want: Command{Path: testExe, Args: []string{"algo", "xgboost", "train"}, Env: pyEnv},
		},
		{
			name: "SageMaker XGBoost serve runs the built-in server",
			req:  Request{Image: xgbURI, Mode: ModeServe},
			want: Command{Path: testExe, Args: []string{"algo", "xgboost", "serve"}, Env: pyEnv},
		},
		{
			name: "SageMaker XGBoost in a China region by digest",
			req:  Request{Image: "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost@sha256:" + strings.Repeat("ab", 32), Mode: ModeTrain},
			want: Command{Path: testExe, Args: []string{"algo", "xgboost", "train"}, Env: pyEnv},
		},
		{
			name: "old XGBoost algorithm image",
			req:  Request{Image: "811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:1", Mode: ModeTrain},
			want: Command{Path: testExe, Args: []string{"algo", "xgboost", "train"}, Env: pyEnv},
		},
		{
			name: "SageMaker XGBoost with entrypoint runs the script on host python (abalone evaluate)",
			req:  Request{Image: xgbURI, Mode: ModeProcess, Entrypoint: []string{"python3", "/opt/ml/processing/input/code/evaluation.py"}},
			want: Command{Path: testPython, Args: []string{"/opt/ml/processing/input/code/evaluation.py"}, Env: pyEnv},
		},
		{
			name: "SKLearn processing with python3 entrypoint (abalone preprocess)",
			req: Request{Image: sklearnURI, Mode: ModeProcess,
				Entrypoint: []string{"python3", "/opt/ml/processing/input/code/preprocessing.py"},
				Arguments:  []string{"--input-data", "s3://b/abalone.csv"}},
			want: Command{Path: testPython, Args: []string{"/opt/ml/processing/input/code/preprocessing.py", "--input-data", "s3://b/abalone.csv"}, Env: pyEnv},
		},
		{
			name: "container python path means host python",
			req:  Request{Image: sklearnURI, Mode: ModeProcess, Entrypoint: []string{"/usr/local/bin/python3.10", "-u", "x.py"}},
			want: Command{Path: testPython, Args: []string{"-u", "x.py"}, Env: pyEnv},
		},
		{
			name: "non-python entrypoint is kept for the job's PATH",
			req:  Request{Image: sklearnURI, Mode: ModeProcess, Entrypoint: []string{"bash", "-c", "echo hi"}},
			want: Command{Path: "bash", Args: []string{"-c", "echo hi"}, Env: pyEnv},
		},
		{
			name: "framework training with sagemaker_program (script mode)",
			req: Request{Image: torchURI, Mode: ModeTrain, HyperParameters: map[string]string{
				"sagemaker_program":             `"train.py"`,
				"sagemaker_submit_directory":    `"s3://b/src/sourcedir.tar.gz"`,
				"sagemaker_region":              `"us-east-1"`,
				"sagemaker_container_log_level": "20",
				"epochs":                        "10",
				"lr":                            "0.01",
				"optimizer":                     `"adam"`,
				"verbose":                       "true",
				"layers":                        "[64, 32]",
				"extra":                         `{"b": 2, "a": "x"}`,
				"objective":                     "reg:squarederror",
			}},
			want: Command{Path: testPython, Dir: CodeDir, Env: pyEnv, Args: []string{
				"/opt/ml/code/train.py",
				"--epochs", "10",
				"--extra", "a=x,b=2",
				"--layers", "[64, 32]",
				"--lr", "0.01",
				"--objective", "reg:squarederror",
				"--optimizer", "adam",
				"--verbose", "True",
			}},
		},
		{
			name: "XGBoost script mode with a nested shell program",
			req: Request{Image: xgbURI, Mode: ModeTrain, HyperParameters: map[string]string{
				"sagemaker_program": `"scripts/run.sh"`, "max_depth": "5",
			}},
			want: Command{Path: "/bin/sh", Dir: CodeDir, Env: pyEnv, Args: []string{"/opt/ml/code/scripts/run.sh", "--max_depth", "5"}},
		},
		{
			name: "SKLearn script mode with an unquoted program",
			req:  Request{Image: sklearnURI, Mode: ModeTrain, HyperParameters: map[string]string{"sagemaker_program": "fit.py"}},
			want: Command{Path: testPython, Dir: CodeDir, Env: pyEnv, Args: []string{"/opt/ml/code/fit.py"}},
		},
		{
			name: "user mapping by prefix pattern gets the mode argument",
			req:  Request{Image: "registry.local/team/forecast:3", Mode: ModeTrain},
			want: Command{Path: "/srv/bin/run-image", Args: []string{"--verbose", "train"}, Env: []string{"TEAM=ml"}},
		},
		{
			name: "user mapping in processing gets no argument",
			req:  Request{Image: "registry.local/team/forecast:3", Mode: ModeProcess},
			want: Command{Path: "/srv/bin/run-image", Args: []string{"--verbose"}, Env: []string{"TEAM=ml"}},
		},
		{
			name: "user mapping exact with python entrypoint serves",
			req:  Request{Image: "my-algo:1", Mode: ModeServe},
			want: Command{Path: testPython, Args: []string{"/srv/my_algo.py", "serve"}},
		},
		{
			name: "user mapping overrides a first-party image",
			req:  Request{Image: "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:0.90-2", Mode: ModeTrain},
			want: Command{Path: "/srv/old-xgb", Args: []string{"train"}},
		},
	}
	c := testCatalog(t, mappings...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Resolve(tt.req)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.Args == nil {
				got.Args = []string{}
			}
			if tt.want.Args == nil {
				tt.want.Args = []string{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resolve =\n  %#v\nwant\n  %#v", got, tt.want)
			}
		})
	}
}

func TestCatalogResolveErrors(t *testing.T) {
	tests := []struct {
		name    string
		req     Request
		is      error
		mention []string
	}{
		{
			name:    "unknown image names the image and how to map it",
			req:     Request{Image: "docker.io/acme/forecast:2", Mode: ModeTrain},
			is:      ErrUnknownImage,
			mention: []string{`"docker.io/acme/forecast:2"`, "map it to a local command", "sluice/xgboost"},
		},
		{
			name:    "unknown built-in lists the built-ins",
			req:     Request{Image: "sluice/lightgbm", Mode: ModeTrain},
			is:      ErrUnknownImage,
			mention: []string{`"lightgbm"`, "sluice/xgboost, sluice/prep"},
		},
		{
			name:    "unknown SageMaker repository",
			req:     Request{Image: "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.3", Mode: ModeProcess},
			is:      ErrUnknownImage,
			mention: []string{`"sagemaker-spark-processing"`, "sagemaker-scikit-learn"},
		},
		{
			name:    "SKLearn training without a program",
			req:     Request{Image: sklearnURI, Mode: ModeTrain, HyperParameters: map[string]string{"alpha": "1"}},
			is:      ErrUnsupportedMode,
			mention: []string{"sagemaker_program"},
		},
		{
			name:    "SKLearn processing without entrypoint",
			req:     Request{Image: sklearnURI, Mode: ModeProcess},
			is:      ErrUnsupportedMode,
			mention: []string{"ContainerEntrypoint"},
		},
		{
			name:    "framework serving",
			req:     Request{Image: "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310", Mode: ModeServe},
			is:      ErrUnsupportedMode,
			mention: []string{"does not host", "map the image"},
		},
		{
			name:    "XGBoost processing without entrypoint",
			req:     Request{Image: xgbURI, Mode: ModeProcess},
			is:      ErrUnsupportedMode,
			mention: []string{"cannot process"},
		},
		{
			name:    "program escaping the source directory",
			req:     Request{Image: torchURI, Mode: ModeTrain, HyperParameters: map[string]string{"sagemaker_program": `"../../etc/x.py"`}},
			mention: []string{"inside the source directory"},
		},
		{
			name:    "bad mode",
			req:     Request{Image: "sluice/xgboost", Mode: "predict"},
			mention: []string{`mode "predict"`},
		},
		{
			name:    "empty image",
			req:     Request{Mode: ModeTrain},
			mention: []string{"image is empty"},
		},
	}
	c := testCatalog(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Resolve(tt.req)
			if err == nil {
				t.Fatal("Resolve succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestCatalogPythonNotFound(t *testing.T) {
	c := testCatalog(t)
	c.python = "python3.99"
	_, err := c.Resolve(Request{Image: sklearnURI, Mode: ModeProcess, Entrypoint: []string{"python3", "x.py"}})
	if err == nil || !strings.Contains(err.Error(), PythonEnvVar) || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Resolve error = %v, want a not-found error that names %s", err, PythonEnvVar)
	}
	c.python = "/opt/py/bin/python"
	got, err := c.Resolve(Request{Image: sklearnURI, Mode: ModeProcess, Entrypoint: []string{"python", "x.py"}})
	if err != nil || got.Path != "/opt/py/bin/python" {
		t.Fatalf("Resolve with a python path = %v, %v", got, err)
	}
}

func TestNewCatalogValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  CatalogConfig
		want string
	}{
		{"no executable", CatalogConfig{}, "Executable"},
		{"empty pattern", CatalogConfig{Executable: testExe, Mappings: []Mapping{{Entrypoint: []string{"x"}}}}, "pattern is empty"},
		{"empty entrypoint", CatalogConfig{Executable: testExe, Mappings: []Mapping{{Image: "a"}}}, `"a": entrypoint is empty`},
		{"bad env", CatalogConfig{Executable: testExe, Mappings: []Mapping{{Image: "a", Entrypoint: []string{"x"}, Env: []string{"NOEQUALS"}}}}, "KEY=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCatalog(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewCatalog error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestMatchImage(t *testing.T) {
	tests := []struct {
		pattern, image string
		want           bool
	}{
		{"a/b:1", "a/b:1", true},
		{"a/b:1", "a/b:2", false},
		{"a/*", "a/b/c:1", true},
		{"a/*", "b/a/c", false},
		{"*:latest", "x/y:latest", true},
		{"*:latest", "x/y:latest2", false},
		{"*.dkr.ecr.*.amazonaws.com/algo:*", "1.dkr.ecr.eu-west-1.amazonaws.com/algo:3", true},
		{"*.dkr.ecr.*.amazonaws.com/algo:*", "1.dkr.ecr.eu-west-1.amazonaws.com/other:3", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"*", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.image, func(t *testing.T) {
			if got := matchImage(tt.pattern, tt.image); got != tt.want {
				t.Errorf("matchImage(%q, %q) = %v, want %v", tt.pattern, tt.image, got, tt.want)
			}
		})
	}
}

func TestHostPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/opt/ml", "/ws", true},
		{"/opt/ml/processing/input/code", "/ws/processing/input/code", true},
		{"/opt/ml/model/", "/ws/model", true},
		{"/opt/mlx", "", false},
		{"/opt/ml/../etc", "", false},
		{"processing/input", "", false},
		{"/etc/passwd", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := HostPath("/ws", tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("HostPath(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}
