package train

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ModelFileName is the file the trainer writes into the model directory, as SageMaker's
// XGBoost container names it.
const ModelFileName = "xgboost-model"

// optMLEnvVar is where the process runtime tells a job the /opt/ml folder is when it
// cannot mount it there (runtime.OptMLEnvVar).
const optMLEnvVar = "SLUICE_OPT_ML"

// Main runs the training container contract of SageMaker's built-in XGBoost (the
// `train` command of the image): it reads the hyperparameters and channel configuration
// under <ml-root>/input/config, the train and optional validation channels under
// <ml-root>/input/data, trains, and writes <ml-root>/model/xgboost-model. On failure it
// writes the reason to <ml-root>/output/failure and returns the error, so the caller
// exits non-zero. args are flags (--ml-root DIR, default $SLUICE_OPT_ML or /opt/ml); a
// leading "train" argument, as `docker run <image> train` passes it, is accepted.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("train", flag.ContinueOnError)
	flags.SetOutput(stderr)
	defaultRoot := "/opt/ml"
	if env := os.Getenv(optMLEnvVar); env != "" {
		defaultRoot = env
	}
	root := flags.String("ml-root", defaultRoot, "root of the SageMaker training layout (input/, model/, output/); default $"+optMLEnvVar+" or /opt/ml")
	if len(args) > 0 && args[0] == "train" {
		args = args[1:]
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("train: unexpected arguments %q", flags.Args())
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	err := run(ctx, *root, stdout, log)
	if err != nil {
		log.Error("training failed", slog.Any("error", err))
		if werr := writeFailure(*root, err); werr != nil {
			log.Error("could not write the failure reason", slog.Any("error", werr))
		}
	}
	return err
}

func writeFailure(root string, cause error) error {
	dir := filepath.Join(root, "output")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "failure"), []byte(cause.Error()+"\n"), 0o644)
}

// channelConfig is one entry of inputdataconfig.json.
type channelConfig struct {
	ContentType string `json:"ContentType"`
}

func run(ctx context.Context, root string, stdout io.Writer, log *slog.Logger) error {
	start := time.Now()
	hps := map[string]string{}
	if err := readJSON(filepath.Join(root, "input", "config", "hyperparameters.json"), &hps); err != nil {
		return err
	}
	params, err := ParseParams(hps)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	channels := map[string]channelConfig{}
	if err := readJSON(filepath.Join(root, "input", "config", "inputdataconfig.json"), &channels); err != nil {
		return err
	}
	dataDir := filepath.Join(root, "input", "data")
	for name := range channels {
		if name != "train" && name != "validation" {
			return fmt.Errorf("train: channel %q is not supported (use train and validation)", name)
		}
	}
	train, err := readChannel(dataDir, "train", channels, params.CSVWeights)
	if err != nil {
		return err
	}
	if train == nil {
		return fmt.Errorf("train: %w: channel train is required (%s)", errNoData, filepath.Join(dataDir, "train"))
	}
	valid, err := readChannel(dataDir, "validation", channels, params.CSVWeights)
	if err != nil {
		return err
	}
	if valid != nil && valid.Cols < train.Cols && channelType(channels, "validation") == ContentTypeLibSVM {
		valid.widen(train.Cols)
	}
	if params.EarlyStoppingRounds > 0 && valid == nil {
		return errors.New("train: early_stopping_rounds needs a validation channel")
	}
	attrs := []any{slog.Int("train_rows", train.Rows), slog.Int("features", train.Cols),
		slog.String("objective", params.Objective), slog.Int("num_round", params.NumRound)}
	if valid != nil {
		attrs = append(attrs, slog.Int("validation_rows", valid.Rows))
	}
	log.Info("training", attrs...)
	model, err := Train(ctx, params, train, valid, stdout)
	if err != nil {
		return err
	}
	modelDir := filepath.Join(root, "model")
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	path := filepath.Join(modelDir, ModelFileName)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := model.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("train: write model: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("train: write model: %w", err)
	}
	log.Info("model written", slog.String("path", path), slog.Int("trees", len(model.Trees)),
		slog.Duration("elapsed", time.Since(start).Round(time.Millisecond)))
	return nil
}

// readJSON decodes a config file; a missing file leaves v unchanged.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("train: %s: %w", filepath.Base(path), err)
	}
	return nil
}

func channelType(channels map[string]channelConfig, name string) string {
	ct, err := ParseContentType(channels[name].ContentType)
	if err != nil {
		return ""
	}
	return ct
}

// readChannel reads a channel's folder, or returns nil when the channel is absent.
func readChannel(dataDir, name string, channels map[string]channelConfig, weights bool) (*Matrix, error) {
	dir := filepath.Join(dataDir, name)
	_, declared := channels[name]
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if declared {
			return nil, fmt.Errorf("train: channel %s is configured but %s does not exist", name, dir)
		}
		return nil, nil
	}
	ct, err := ParseContentType(channels[name].ContentType)
	if err != nil {
		return nil, fmt.Errorf("train: channel %s: %w", name, err)
	}
	m, err := ReadDir(dir, ct, weights && ct == ContentTypeCSV)
	if err != nil {
		return nil, fmt.Errorf("train: channel %s: %w", name, err)
	}
	return m, nil
}

// MetricDefinition is a metric name and the regular expression that reads it from the
// training log, as SageMaker defines them for its built-in XGBoost algorithm. In the log
// as CloudWatch shows it the tab XGBoost prints appears as "#011", which the expressions
// match; a reader applying them must render tabs the same way.
type MetricDefinition struct {
	Name  string
	Regex string
}

// MetricDefinitions returns the metric definitions of the built-in algorithm: for each
// channel (train, validation) and each metric the trainer can print, "channel:metric".
func MetricDefinitions() []MetricDefinition {
	names := []string{"rmse", "mae", "logloss", "error", "auc", "mlogloss", "merror", "poisson-nloglik"}
	slices.Sort(names)
	var out []MetricDefinition
	for _, ch := range []string{"train", "validation"} {
		for _, m := range names {
			out = append(out, MetricDefinition{
				Name:  ch + ":" + m,
				Regex: `.*\[[0-9]+\].*#011` + ch + "-" + m + `:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*`,
			})
		}
	}
	return out
}
