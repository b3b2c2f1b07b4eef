package prep

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

// Main runs the prep image with SageMaker processing-container paths as defaults: input
// from /opt/ml/processing/input, splits to /opt/ml/processing/output/{train,validation,test}.
// The defaults reproduce the abalone example's preprocessing.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "/opt/ml/processing/input", "input CSV file, or a directory of *.csv files")
	header := fs.String("header", "auto", "whether files start with column names: auto, true or false")
	columns := fs.String("columns", strings.Join(AbaloneColumns, ","), "comma-separated column names for files without a header")
	target := fs.String("target", "rings", "target column, written first")
	categorical := fs.String("categorical", "sex", "comma-separated columns to one-hot encode (empty for none)")
	standardize := fs.Bool("standardize", true, "scale numeric feature columns to zero mean and unit variance")
	split := fs.String("split", "0.7,0.15,0.15", "train,validation,test fractions")
	seed := fs.Uint64("seed", 42, "shuffle seed")
	output := fs.String("output", "/opt/ml/processing/output", "base output directory")
	trainDir := fs.String("train-dir", "", "directory for train.csv (default <output>/train)")
	validationDir := fs.String("validation-dir", "", "directory for validation.csv (default <output>/validation)")
	testDir := fs.String("test-dir", "", "directory for test.csv (default <output>/test)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("prep: unexpected arguments %q", fs.Args())
	}
	cfg := Config{
		Input:         *input,
		Header:        *header,
		Columns:       splitList(*columns),
		Target:        *target,
		Categorical:   splitList(*categorical),
		Standardize:   *standardize,
		Seed:          *seed,
		TrainDir:      orDefault(*trainDir, filepath.Join(*output, "train")),
		ValidationDir: orDefault(*validationDir, filepath.Join(*output, "validation")),
		TestDir:       orDefault(*testDir, filepath.Join(*output, "test")),
	}
	ratios := splitList(*split)
	if len(ratios) != 3 {
		return fmt.Errorf("prep: -split needs three fractions train,validation,test, got %q", *split)
	}
	for i, s := range ratios {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("prep: -split: %q is not a number", s)
		}
		cfg.Ratios[i] = v
	}
	sum, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "prep: columns %s\n", strings.Join(sum.Columns, ","))
	fmt.Fprintf(stdout, "prep: wrote %d train rows to %s, %d validation rows to %s, %d test rows to %s\n",
		sum.Rows[0], cfg.TrainDir, sum.Rows[1], cfg.ValidationDir, sum.Rows[2], cfg.TestDir)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
