//go:build unix

// Command train benchmarks Sluice's built-in XGBoost trainer against real XGBoost
// (tree_method=hist) on the same data, threads and hyperparameters, and prints training
// time and test accuracy side by side. Run it with bench/train/run.sh.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/algo/xgboost/train"
)

type config struct {
	python  string
	threads int
	rows    int
	repeat  int
	only    string
	abalone string
	profile string
}

func main() {
	var c config
	flag.StringVar(&c.python, "python", "/usr/bin/python3", "python interpreter with xgboost 1.7 (empty: ours only)")
	flag.IntVar(&c.threads, "threads", 2, "threads for both trainers (nthread)")
	flag.IntVar(&c.rows, "rows", 1_000_000, "training rows of the synthetic set")
	flag.IntVar(&c.repeat, "repeat", 1, "timed runs per trainer and data set (the best is reported)")
	flag.StringVar(&c.only, "only", "all", "abalone, synthetic or all")
	flag.StringVar(&c.abalone, "abalone", "", "path of abalone.csv (default: ../shared/data/abalone.csv from the repository root)")
	flag.StringVar(&c.profile, "cpuprofile", "", "write a CPU profile of our training runs to this file")
	flag.Parse()
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// caseSpec is one benchmark: a data set and the hyperparameters both trainers get.
type caseSpec struct {
	data      *dataset
	hps       map[string]string
	xgbParams map[string]any
	rounds    int
	binary    bool
}

func run(c config, out io.Writer) error {
	runtime.GOMAXPROCS(max(c.threads, runtime.GOMAXPROCS(0)))
	var cases []caseSpec
	if c.only == "all" || c.only == "abalone" {
		path := c.abalone
		if path == "" {
			root, err := repoRoot()
			if err != nil {
				return err
			}
			path = filepath.Join(root, "..", "shared", "data", "abalone.csv")
		}
		ds, err := abalone(path)
		if err != nil {
			return fmt.Errorf("abalone: %w", err)
		}
		for _, sub := range []string{"1", "0.7"} {
			cases = append(cases, caseSpec{
				data: &dataset{name: "abalone subsample=" + sub, train: ds.train, test: ds.test},
				hps: map[string]string{"max_depth": "5", "eta": "0.2", "gamma": "4", "min_child_weight": "6",
					"subsample": sub, "objective": "reg:squarederror", "num_round": "50"},
				xgbParams: map[string]any{"max_depth": 5, "eta": 0.2, "gamma": 4, "min_child_weight": 6,
					"subsample": json.Number(sub), "objective": "reg:squarederror"},
				rounds: 50,
			})
		}
	}
	if c.only == "all" || c.only == "synthetic" {
		start := time.Now()
		ds := &dataset{name: fmt.Sprintf("synthetic %d×28", c.rows), train: higgsLike(c.rows, 1), test: higgsLike(200_000, 2)}
		fmt.Fprintf(out, "generated %s (+200000 test rows) in %v\n", ds.name, time.Since(start).Round(time.Millisecond))
		cases = append(cases, caseSpec{
			data:      ds,
			hps:       map[string]string{"max_depth": "6", "eta": "0.3", "objective": "binary:logistic", "num_round": "100"},
			xgbParams: map[string]any{"max_depth": 6, "eta": 0.3, "objective": "binary:logistic"},
			rounds:    100,
			binary:    true,
		})
	}
	tmp, err := os.MkdirTemp("", "sluice-bench-train-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintf(out, "threads=%d GOMAXPROCS=%d %s/%s %s; runs alternate between the trainers, best of %d\n\n",
		c.threads, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), c.repeat)
	fmt.Fprintf(out, "%-26s %-8s %9s %9s %9s %10s %9s %8s\n", "data set", "trainer", "wall s", "cpu s", "metric", "test", "test auc", "wall ×")
	for _, cs := range cases {
		hps := maps(cs.hps, "nthread", fmt.Sprint(c.threads))
		p, err := train.ParseParams(hps)
		if err != nil {
			return err
		}
		var dataDir string
		if c.python != "" {
			if dataDir, err = writeCase(cs, tmp); err != nil {
				return err
			}
		}
		var model *xgboost.Model
		var ourWall, ourCPU, xgbWall, xgbCPU []float64
		var xgb *xgbResult
		for i := 0; i < c.repeat; i++ {
			stop, err := startProfile(c.profile)
			if err != nil {
				return err
			}
			runtime.GC()
			cpu0 := cpuSeconds()
			start := time.Now()
			model, err = train.Train(context.Background(), p, cs.data.train, nil, nil)
			ourWall = append(ourWall, time.Since(start).Seconds())
			ourCPU = append(ourCPU, cpuSeconds()-cpu0)
			stop()
			if err != nil {
				return fmt.Errorf("%s: %w", cs.data.name, err)
			}
			if c.python == "" {
				continue
			}
			if xgb, err = runXGBoost(c, cs, dataDir); err != nil {
				return fmt.Errorf("%s: xgboost: %w", cs.data.name, err)
			}
			xgbWall = append(xgbWall, xgb.TrainSeconds...)
			xgbCPU = append(xgbCPU, xgb.CPUSeconds...)
		}
		metricName, ourScore, ourAUC := score(cs, predict(model, cs.data.test))
		if c.python == "" {
			fmt.Fprintf(out, "%-26s %-8s %9.3f %9.3f %9s %10.5f %9s\n", cs.data.name, "sluice", slices.Min(ourWall), slices.Min(ourCPU), metricName, ourScore, fmtAUC(ourAUC))
			continue
		}
		_, xgbScore, xgbAUC := score(cs, xgb.TestPred)
		fmt.Fprintf(out, "%-26s %-8s %9.3f %9.3f %9s %10.5f %9s %8.2f\n", cs.data.name, "sluice", slices.Min(ourWall), slices.Min(ourCPU), metricName, ourScore, fmtAUC(ourAUC), slices.Min(ourWall)/slices.Min(xgbWall))
		fmt.Fprintf(out, "%-26s %-8s %9.3f %9.3f %9s %10.5f %9s %8s\n", "", "xgboost", slices.Min(xgbWall), slices.Min(xgbCPU), metricName, xgbScore, fmtAUC(xgbAUC), "1.00")
		fmt.Fprintf(out, "%-26s %-8s test %s: sluice %+.2f%% vs xgboost %s; all wall s: sluice %s, xgboost %s\n\n", "", "",
			metricName, 100*(ourScore-xgbScore)/xgbScore, xgb.Version, fmtList(ourWall), fmtList(xgbWall))
	}
	return nil
}

func fmtList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, " ")
}

// cpuSeconds is the user plus system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// startProfile starts a CPU profile when path is set and returns the function that stops it.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func fmtAUC(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.5f", v)
}

func maps(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

type xgbResult struct {
	DMatrixSeconds float64   `json:"dmatrix_seconds"`
	TrainSeconds   []float64 `json:"train_seconds"`
	CPUSeconds     []float64 `json:"cpu_seconds"`
	TestPred       []float64 `json:"test_pred"`
	Version        string    `json:"version"`
}

// writeCase writes a case's train and test sets for xgb_bench.py and returns the folder.
func writeCase(cs caseSpec, tmp string) (string, error) {
	dir, err := os.MkdirTemp(tmp, "case-")
	if err != nil {
		return "", err
	}
	if _, _, err := writeBinary(cs.data.train, dir, "train"); err != nil {
		return "", err
	}
	if _, _, err := writeBinary(cs.data.test, dir, "test"); err != nil {
		return "", err
	}
	return dir, nil
}

// runXGBoost trains real XGBoost once on the case written to dir.
func runXGBoost(c config, cs caseSpec, dir string) (*xgbResult, error) {
	params := map[string]any{"tree_method": "hist", "nthread": c.threads, "max_bin": 256}
	for k, v := range cs.xgbParams {
		params[k] = v
	}
	spec := map[string]any{"cols": cs.data.train.Cols, "params": params, "num_round": cs.rounds, "repeat": 1,
		"train_x": filepath.Join(dir, "train_x.f32"), "train_y": filepath.Join(dir, "train_y.f32"),
		"test_x": filepath.Join(dir, "test_x.f32"), "test_y": filepath.Join(dir, "test_y.f32")}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	specPath, outPath := filepath.Join(dir, "spec.json"), filepath.Join(dir, "out.json")
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		return nil, err
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.python, filepath.Join(root, "bench", "train", "xgb_bench.py"), specPath, outPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	b, err = os.ReadFile(outPath)
	if err != nil {
		return nil, err
	}
	var res xgbResult
	return &res, json.Unmarshal(b, &res)
}

// predict returns the model's predictions (probabilities for logistic objectives).
func predict(m *xgboost.Model, x *train.Matrix) []float64 {
	out := make([]float64, x.Rows)
	logistic := strings.Contains(m.Objective, "logistic")
	base := m.BaseMargin()
	for r := 0; r < x.Rows; r++ {
		margin := base
		for _, t := range m.Trees {
			id := int32(0)
			for t.LeftChildren[id] != xgboost.NoChild {
				v := x.At(r, int(t.SplitIndices[id]))
				left := v < t.SplitConditions[id]
				if v != v {
					left = t.DefaultLeft[id]
				}
				if left {
					id = t.LeftChildren[id]
				} else {
					id = t.RightChildren[id]
				}
			}
			margin += t.SplitConditions[id]
		}
		if logistic {
			out[r] = 1 / (1 + math.Exp(-float64(margin)))
		} else {
			out[r] = float64(margin)
		}
	}
	return out
}

// score returns the case's headline test metric (logloss or RMSE) and, for binary
// problems, the AUC.
func score(cs caseSpec, pred []float64) (string, float64, float64) {
	y := cs.data.test.Labels
	if !cs.binary {
		var s float64
		for i, v := range pred {
			d := v - float64(y[i])
			s += d * d
		}
		return "rmse", math.Sqrt(s / float64(len(y))), math.NaN()
	}
	var ll float64
	for i, p := range pred {
		p = min(max(p, 1e-16), 1-1e-16)
		if y[i] == 1 {
			ll -= math.Log(p)
		} else {
			ll -= math.Log(1 - p)
		}
	}
	return "logloss", ll / float64(len(y)), aucOf(pred, y)
}

func aucOf(pred []float64, y []float32) float64 {
	idx := make([]int, len(pred))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return pred[idx[a]] < pred[idx[b]] })
	var rankSum, pos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && pred[idx[j]] == pred[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // average 1-based rank of the tie group
		for k := i; k < j; k++ {
			if y[idx[k]] == 1 {
				rankSum += avg
				pos++
			}
		}
		i = j
	}
	neg := float64(len(y)) - pos
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above %s", dir)
		}
		dir = parent
	}
}
