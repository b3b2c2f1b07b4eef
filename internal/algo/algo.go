// Package algo is the entry point of Sluice's built-in images, run as `sluice algo <name>`:
// the XGBoost-compatible trainer and the prep, evaluate and synth processing images. Each
// follows SageMaker's container contract for its kind of job, so the runtime can start it
// like any other image.
package algo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-ml/sluice/internal/algo/evaluate"
	"github.com/sluice-ml/sluice/internal/algo/prep"
	"github.com/sluice-ml/sluice/internal/algo/synth"
	"github.com/sluice-ml/sluice/internal/algo/xgboost/train"
)

// ErrUsage reports a command line that names no built-in image.
var ErrUsage = errors.New("usage")

// entry is one built-in command.
type entry struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands maps `sluice algo` arguments to images. Keys with a space take two arguments.
var commands = map[string]entry{
	"xgboost train": {"train an XGBoost model (SageMaker's built-in XGBoost training contract under /opt/ml)", train.Main},
	"prep":          {"preprocess a CSV into headerless train/validation/test splits (SageMaker processing paths)", prep.Main},
	"evaluate":      {"score model.tar.gz on test CSVs and write evaluation.json (SageMaker processing paths)", evaluate.Main},
	"synth":         {"generate a deterministic abalone-like CSV of any size", synth.Main},
}

// order lists the commands for the usage text.
var order = []string{"xgboost train", "prep", "evaluate", "synth"}

// Main runs the built-in image named by args, for example ["xgboost", "train"] or
// ["prep", "-input", "data.csv"]. Flags after the name go to the image. It returns the
// image's error (the caller exits non-zero) or an ErrUsage error for an unknown name.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return fmt.Errorf("algo: %w: name a built-in image", ErrUsage)
		}
		return nil
	}
	if len(args) >= 2 {
		if e, ok := commands[args[0]+" "+args[1]]; ok {
			return e.run(ctx, args[2:], stdout, stderr)
		}
	}
	if e, ok := commands[args[0]]; ok {
		return e.run(ctx, args[1:], stdout, stderr)
	}
	usage(stderr)
	if args[0] == "xgboost" {
		sub := ""
		if len(args) > 1 {
			sub = args[1]
		}
		if sub == "serve" {
			return fmt.Errorf("algo: %w: xgboost serve is not a separate image; endpoints serve built-in XGBoost models with the native predictor", ErrUsage)
		}
		return fmt.Errorf("algo: %w: xgboost needs a command: train (got %q)", ErrUsage, sub)
	}
	return fmt.Errorf("algo: %w: unknown built-in image %q", ErrUsage, strings.Join(args[:1], " "))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: sluice algo <image> [flags]")
	fmt.Fprintln(w, "built-in images:")
	for _, name := range order {
		fmt.Fprintf(w, "  %-14s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "run an image with -h for its flags")
}
