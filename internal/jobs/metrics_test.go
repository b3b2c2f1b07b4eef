package jobs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMetricsFromLogLines(t *testing.T) {
	defs := []MetricDefinition{
		{Name: "train:rmse", Regex: `\[\d+\]#011train-rmse:([0-9.]+)`},
		{Name: "validation:rmse", Regex: `validation-rmse:([0-9.]+)`},
		{Name: "accuracy", Regex: `accuracy=[0-9.]+%?`},
		{Name: "loss", Regex: `loss: (\S+)`},
	}
	cases := []struct {
		name   string
		chunks []string
		want   map[string]float64
	}{
		{"xgboost style, last value wins", []string{"[0]#011train-rmse:2.5\tvalidation-rmse:2.7\n", "[1]#011train-rmse:2.1\tvalidation-rmse:2.4\n"},
			map[string]float64{"train:rmse": 2.1, "validation:rmse": 2.4}},
		{"real tabs, as the built-in trainer prints, match SageMaker's #011 regexes", []string{"[7]\ttrain-rmse:1.5\tvalidation-rmse:1.9\n"},
			map[string]float64{"train:rmse": 1.5, "validation:rmse": 1.9}},
		{"lines split across writes", []string{"[3]#011train-r", "mse:1.75\n"}, map[string]float64{"train:rmse": 1.75}},
		{"without a capture group the whole match must be a number", []string{"accuracy=0.5\n"}, map[string]float64{}},
		{"unparsable values are skipped", []string{"loss: nan-ish\nloss: 0.3\nloss: oops\n"}, map[string]float64{"loss": 0.3}},
		{"last line without newline counts at close", []string{"loss: 0.9"}, map[string]float64{"loss": 0.9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := compileMetrics(defs)
			if err != nil {
				t.Fatal(err)
			}
			sink, err := openLog(filepath.Join(t.TempDir(), "log"), m, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range c.chunks {
				sink.Write([]byte(ch))
			}
			sink.Close()
			got := map[string]float64{}
			for _, d := range m.final() {
				got[d.MetricName] = d.Value
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestLogSinkKeepsEverything(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	sink, _ := openLog(p, nil, time.Now)
	sink.Write([]byte("a\nb"))
	sink.note("attempt %d", 2)
	sink.Close()
	b, _ := os.ReadFile(p)
	if string(b) != "a\nb[sluice] attempt 2\n" {
		t.Errorf("log = %q", b)
	}
}
