// Command predict benchmarks Sluice's native XGBoost predictor against real XGBoost on the
// same model (trained by real XGBoost: 100 trees of depth 6 by default), the same rows and
// the same thread count, and prints single-row latency and batch throughput side by side.
// It also checks that both predict the same values. Run it with bench/predict/run.sh.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

type config struct {
	python      string
	threads     int
	rows        int
	cols        int
	rounds      int
	depth       int
	singleCalls int
	repeat      int
}

func main() {
	var c config
	flag.StringVar(&c.python, "python", "/usr/bin/python3", "python interpreter with xgboost 1.7")
	flag.IntVar(&c.threads, "threads", runtime.NumCPU(), "threads for both predictors (nthread, GOMAXPROCS)")
	flag.IntVar(&c.rows, "rows", 100_000, "rows in the batch (and in the training set)")
	flag.IntVar(&c.cols, "cols", 10, "features")
	flag.IntVar(&c.rounds, "trees", 100, "boosting rounds (trees)")
	flag.IntVar(&c.depth, "depth", 6, "max_depth")
	flag.IntVar(&c.singleCalls, "single-calls", 5000, "single-row calls per timed repeat")
	flag.IntVar(&c.repeat, "repeat", 5, "timed repeats (the best is reported)")
	flag.Parse()
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// pyResult is what xgb_predict_bench.py reports.
type pyResult struct {
	Version           string    `json:"version"`
	SingleCallSeconds []float64 `json:"single_call_seconds"`
	SingleCall1Thread []float64 `json:"single_call_seconds_1thread"`
	BatchSeconds      []float64 `json:"batch_seconds"`
	Pred              []float64 `json:"pred"`
}

func run(c config, out io.Writer) error {
	runtime.GOMAXPROCS(c.threads)
	dir, err := os.MkdirTemp("", "sluice-bench-predict-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	trainX, trainY := data(c.rows, c.cols, 1)
	predX, _ := data(c.rows, c.cols, 2)
	spec := map[string]any{
		"train_x": filepath.Join(dir, "train_x.f32"), "train_y": filepath.Join(dir, "train_y.f32"),
		"pred_x": filepath.Join(dir, "pred_x.f32"), "cols": c.cols, "threads": c.threads,
		"rounds": c.rounds, "max_depth": c.depth, "single_calls": c.singleCalls, "repeat": c.repeat,
		"model": filepath.Join(dir, "model.json"),
	}
	for path, v := range map[string][]float32{spec["train_x"].(string): trainX, spec["train_y"].(string): trainY, spec["pred_x"].(string): predX} {
		if err := writeF32(path, v); err != nil {
			return err
		}
	}
	specPath, resPath := filepath.Join(dir, "spec.json"), filepath.Join(dir, "result.json")
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		return err
	}
	script := filepath.Join(filepath.Dir(os.Args[0]), "xgb_predict_bench.py")
	if _, err := os.Stat(script); err != nil {
		script = filepath.Join("bench", "predict", "xgb_predict_bench.py")
	}
	cmd := exec.Command(c.python, script, specPath, resPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("real XGBoost: %w", err)
	}
	var py pyResult
	if b, err = os.ReadFile(resPath); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &py); err != nil {
		return err
	}

	f, err := os.Open(spec["model"].(string))
	if err != nil {
		return err
	}
	m, err := xgboost.Load(f)
	f.Close()
	if err != nil {
		return err
	}
	p, err := xgboost.NewPredictor(m)
	if err != nil {
		return err
	}

	// Correctness first: the batch output must match XGBoost's.
	got := make([]float32, c.rows)
	if err := p.PredictBatch(predX, c.cols, got); err != nil {
		return err
	}
	var maxDiff float64
	for i, v := range py.Pred {
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i])-v))
	}

	// Single row: one call per row, cycling through the first rows like the Python loop.
	one := make([]float32, 1)
	singles := make([]float64, 0, c.repeat)
	for range c.repeat {
		start := time.Now()
		for i := range c.singleCalls {
			r := i % c.rows
			if err := p.Predict(predX[r*c.cols:(r+1)*c.cols], one); err != nil {
				return err
			}
		}
		singles = append(singles, time.Since(start).Seconds()/float64(c.singleCalls))
	}
	batches := make([]float64, 0, c.repeat)
	for range c.repeat {
		start := time.Now()
		if err := p.PredictBatch(predX, c.cols, got); err != nil {
			return err
		}
		batches = append(batches, time.Since(start).Seconds())
	}

	goSingle, pySingle := slices.Min(singles), slices.Min(py.SingleCallSeconds)
	goBatch, pyBatch := float64(c.rows)/slices.Min(batches), float64(c.rows)/slices.Min(py.BatchSeconds)
	fmt.Fprintf(out, "model: %d trees, max_depth %d, %d features, trained by XGBoost %s (hist); %d threads; best of %d\n",
		len(m.Trees), c.depth, c.cols, py.Version, c.threads, c.repeat)
	fmt.Fprintf(out, "max |sluice - xgboost| over %d rows: %.3g\n\n", c.rows, maxDiff)
	fmt.Fprintf(out, "%-34s %14s %18s %10s\n", "", "sluice (Go)", "xgboost (python)", "ratio")
	fmt.Fprintf(out, "%-34s %11.2f µs %15.2f µs %9.1fx\n", "single row, latency per call", goSingle*1e6, pySingle*1e6, pySingle/goSingle)
	if c.threads != 1 {
		py1 := slices.Min(py.SingleCall1Thread)
		fmt.Fprintf(out, "%-34s %11.2f µs %15.2f µs %9.1fx\n", "single row, xgboost nthread=1", goSingle*1e6, py1*1e6, py1/goSingle)
	}
	fmt.Fprintf(out, "%-34s %10.0f r/s %14.0f r/s %9.2fx\n", fmt.Sprintf("batch of %d rows, throughput", c.rows), goBatch, pyBatch, goBatch/pyBatch)
	if maxDiff > 1e-5 {
		return fmt.Errorf("predictions differ from XGBoost by %g", maxDiff)
	}
	return nil
}

// data draws rows of standard normal features and a nonlinear target.
func data(rows, cols int, seed uint64) (x, y []float32) {
	rng := rand.New(rand.NewPCG(seed, 99))
	x = make([]float32, rows*cols)
	y = make([]float32, rows)
	for r := range rows {
		row := x[r*cols : (r+1)*cols]
		for j := range row {
			row[j] = float32(rng.NormFloat64())
		}
		t := 0.0
		for j, v := range row {
			t += math.Sin(float64(v)*float64(j+1)) + float64(v)*float64(j%3)
		}
		y[r] = float32(t + 0.3*rng.NormFloat64())
	}
	return x, y
}

func writeF32(path string, v []float32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := binary.Write(f, binary.NativeEndian, v); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
