// Package evaluate is the built-in `evaluate` processing image: it scores a trained model on
// a test CSV and writes evaluation.json in SageMaker's model quality report shape, so that a
// pipeline's JsonGet condition (for example regression_metrics.mse.value) can read it.
//
// Inputs follow the abalone example: the training job's model.tar.gz under
// /opt/ml/processing/model and headerless, label-first CSV under /opt/ml/processing/test.
package evaluate

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
)

// Problem kinds the report can describe.
const (
	ProblemAuto       = "auto"
	ProblemRegression = "regression"
	ProblemBinary     = "binary"
	ProblemMulticlass = "multiclass"
)

// Config is one evaluation.
type Config struct {
	// Model is model.tar.gz, a bare xgboost-model file, or a directory holding one.
	Model string
	// Test is a CSV file or a directory of *.csv files, label first, no header.
	Test string
	// Output is the directory that receives evaluation.json.
	Output string
	// Problem is ProblemAuto (from the model's objective) or a kind to force.
	Problem string
	// Threshold turns binary scores into labels.
	Threshold float64
}

// Report is evaluation.json: exactly one of the sections is set.
type Report struct {
	RegressionMetrics map[string]Metric `json:"regression_metrics,omitempty"`
	BinaryMetrics     map[string]any    `json:"binary_classification_metrics,omitempty"`
	MulticlassMetrics map[string]any    `json:"multiclass_classification_metrics,omitempty"`
}

// problemOf picks the report kind from the model's objective.
func problemOf(objective string) string {
	switch {
	case strings.HasPrefix(objective, "binary:"):
		return ProblemBinary
	case strings.HasPrefix(objective, "multi:"):
		return ProblemMulticlass
	}
	return ProblemRegression
}

// Run evaluates cfg.Model on cfg.Test and writes cfg.Output/evaluation.json.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	m, err := LoadModel(cfg.Model)
	if err != nil {
		return nil, err
	}
	p, err := xgboost.NewPredictor(m)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	data, err := readTest(ctx, cfg.Test)
	if err != nil {
		return nil, err
	}
	if data.nfeat != p.NumFeature() {
		return nil, fmt.Errorf("evaluate: the test data has %d feature columns after the label, the model expects %d", data.nfeat, p.NumFeature())
	}
	n := len(data.labels)
	out := make([]float32, n*p.NumOutputs())
	if err := p.PredictBatch(data.features, data.nfeat, out); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}

	problem := cfg.Problem
	if problem == "" || problem == ProblemAuto {
		problem = problemOf(m.Objective)
	}
	rep := &Report{}
	switch problem {
	case ProblemRegression:
		if p.NumOutputs() != 1 {
			return nil, fmt.Errorf("evaluate: a %s model has %d outputs per row; regression metrics need one", m.Objective, p.NumOutputs())
		}
		rep.RegressionMetrics = regressionMetrics(data.labels, widen(out))
	case ProblemBinary:
		if p.NumOutputs() != 1 {
			return nil, fmt.Errorf("evaluate: a %s model has %d outputs per row; binary metrics need one", m.Objective, p.NumOutputs())
		}
		scores := widen(out)
		if m.Objective == "binary:logitraw" {
			for i, v := range scores {
				scores[i] = 1 / (1 + math.Exp(-v))
			}
		}
		if rep.BinaryMetrics, err = binaryMetrics(data.labels, scores, cfg.Threshold); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
	case ProblemMulticlass:
		if m.NumClass < 2 {
			return nil, fmt.Errorf("evaluate: a %s model is not multi-class", m.Objective)
		}
		pred := make([]int, n)
		k := p.NumOutputs()
		for i := range pred {
			row := out[i*k : (i+1)*k]
			if k == 1 {
				pred[i] = int(row[0]) // multi:softmax predicts the class
				continue
			}
			for c := range row {
				if row[c] > row[pred[i]] {
					pred[i] = c
				}
			}
		}
		if rep.MulticlassMetrics, err = multiclassMetrics(data.labels, pred, m.NumClass); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
	default:
		return nil, fmt.Errorf("evaluate: unknown problem %q (auto, regression, binary or multiclass)", cfg.Problem)
	}

	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if err := os.MkdirAll(cfg.Output, 0o755); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Output, "evaluation.json"), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	return rep, nil
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// Main runs the evaluate image with SageMaker processing-container paths as defaults.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := Config{}
	fs.StringVar(&cfg.Model, "model", "/opt/ml/processing/model", "model.tar.gz, xgboost-model, or a directory holding one")
	fs.StringVar(&cfg.Test, "test", "/opt/ml/processing/test", "test CSV (label first, no header) or a directory of them")
	fs.StringVar(&cfg.Output, "output", "/opt/ml/processing/evaluation", "directory for evaluation.json")
	fs.StringVar(&cfg.Problem, "problem", ProblemAuto, "auto, regression, binary or multiclass")
	fs.Float64Var(&cfg.Threshold, "threshold", 0.5, "score at or above which a binary prediction is class 1")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("evaluate: unexpected arguments %q", fs.Args())
	}
	rep, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	switch {
	case rep.RegressionMetrics != nil:
		r := rep.RegressionMetrics
		fmt.Fprintf(stdout, "evaluate: mse %.6g rmse %.6g mae %.6g r2 %.4f\n", r["mse"].Value, r["rmse"].Value, r["mae"].Value, r["r2"].Value)
	case rep.BinaryMetrics != nil:
		fmt.Fprintf(stdout, "evaluate: accuracy %.4f\n", rep.BinaryMetrics["accuracy"].(Metric).Value)
	case rep.MulticlassMetrics != nil:
		fmt.Fprintf(stdout, "evaluate: accuracy %.4f\n", rep.MulticlassMetrics["accuracy"].(Metric).Value)
	}
	fmt.Fprintf(stdout, "evaluate: wrote %s\n", filepath.Join(cfg.Output, "evaluation.json"))
	return nil
}
