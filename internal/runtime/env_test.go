package runtime

import (
	"reflect"
	"testing"
)

func TestRewriteOptML(t *testing.T) {
	const ws = "/var/lib/sluice/jobs/j1"
	tests := []struct {
		name, in, want string
	}{
		{"alone", "/opt/ml", ws},
		{"path below", "/opt/ml/processing/input/code/x.py", ws + "/processing/input/code/x.py"},
		{"flag value", "--model-dir=/opt/ml/model", "--model-dir=" + ws + "/model"},
		{"json", `{"model_dir":"/opt/ml/model","input":"/opt/ml"}`, `{"model_dir":"` + ws + `/model","input":"` + ws + `"}`},
		{"list", "/opt/ml/a:/opt/ml/b", ws + "/a:" + ws + "/b"},
		{"longer name", "/opt/mlflow/x", "/opt/mlflow/x"},
		{"nested", "/srv/opt/ml/x", "/srv/opt/ml/x"},
		{"no path", "reg:linear", "reg:linear"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rewriteOptML(tt.in, ws); got != tt.want {
				t.Errorf("rewriteOptML(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"B=2", "A=3"}, nil, []string{"PATH=/usr/bin"})
	want := []string{"PATH=/usr/bin", "A=3", "B=2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestDefaultBaseEnv(t *testing.T) {
	got := DefaultBaseEnv([]string{"PATH=/x", "HOME=/root", "AWS_SECRET_ACCESS_KEY=s", "SLUICE_DATABASE_URL=postgres://", "LANG=C.UTF-8"})
	want := []string{"PATH=/x", "HOME=/root", "LANG=C.UTF-8"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultBaseEnv = %q, want %q", got, want)
	}
	if got := DefaultBaseEnv(nil); len(got) != 1 || got[0] != "PATH=/usr/local/bin:/usr/bin:/bin" {
		t.Errorf("DefaultBaseEnv(nil) = %q, want a default PATH", got)
	}
}

func TestUserArgs(t *testing.T) {
	tests := []struct {
		name string
		hps  map[string]string
		want []string
	}{
		{"none", nil, []string{}},
		{"reserved keys are dropped", map[string]string{"sagemaker_program": `"t.py"`, "_tuning_objective_metric": "mse", "sagemaker_anything": "1", "a": "1"}, []string{"--a", "1"}},
		{"json strings are decoded", map[string]string{"name": `"x y"`}, []string{"--name", "x y"}},
		{"raw strings stay", map[string]string{"objective": "reg:linear", "empty": ""}, []string{"--empty", "", "--objective", "reg:linear"}},
		{"numbers keep their text", map[string]string{"eta": "0.20", "n": "1e3"}, []string{"--eta", "0.20", "--n", "1e3"}},
		{"python literals", map[string]string{"b": "false", "n": "null", "l": `["a", 1, true]`}, []string{"--b", "False", "--l", "['a', 1, True]", "--n", "None"}},
		{"maps", map[string]string{"m": `{"z": [1], "a": "it's"}`}, []string{"--m", `a=it's,z=[1]`}},
		{"trailing garbage is a string", map[string]string{"x": "1 2"}, []string{"--x", "1 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := userArgs(tt.hps); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("userArgs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPyRepr(t *testing.T) {
	tests := map[string]string{
		`"it's"`:     `"it's"`,
		`"a\"b'"`:    `'a"b\''`,
		`"x\\y\n"`:   `'x\\y\n'`,
		`{"k": [1]}`: `{'k': [1]}`,
	}
	for in, want := range tests {
		if got := pyRepr(decodeHyperParameter(in)); got != want {
			t.Errorf("pyRepr(%s) = %s, want %s", in, got, want)
		}
	}
}
