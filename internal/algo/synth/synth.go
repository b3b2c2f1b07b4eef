// Package synth is the built-in `synth` processing image: it writes a deterministic,
// abalone-like data set of any size, so the demo and the benchmarks need no downloaded data.
//
// Rows are drawn from a small generative model fitted by eye to the UCI abalone data: the
// sex mix, a ring count per sex, a von Bertalanffy growth curve from rings to length, and
// allometric sizes and weights with noise. A model therefore learns rings from the other
// columns about as well as it does on the real data.
package synth

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// Columns are the columns synth writes, in order.
var Columns = []string{"sex", "length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight", "rings"}

// Options select what Write produces.
type Options struct {
	// Rows is the number of data rows.
	Rows int
	// Seed makes the output reproducible: the same seed and row count give the same bytes.
	Seed uint64
	// Header writes the column names as the first line.
	Header bool
}

// sexParams shape one sex's rows: its share, ring count distribution and asymptotic length.
type sexParams struct {
	code      string
	share     float64 // cumulative share used to draw the sex
	ringsMean float64 // median ring count (log-normal)
	ringsSD   float64 // log-scale spread
	maxLength float64 // asymptotic length of the growth curve
}

var sexes = [3]sexParams{
	{"M", 0.366, 10.3, 0.27, 0.625},
	{"F", 0.679, 10.7, 0.26, 0.635},
	{"I", 1.000, 7.6, 0.30, 0.560},
}

// Write writes opts.Rows abalone-like rows as CSV to w.
func Write(ctx context.Context, w io.Writer, opts Options) error {
	if opts.Rows < 0 {
		return fmt.Errorf("synth: rows must be >= 0, got %d", opts.Rows)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if opts.Header {
		for i, c := range Columns {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(c)
		}
		bw.WriteByte('\n')
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed_aba1_0e))
	line := make([]byte, 0, 128)
	for i := range opts.Rows {
		if i%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("synth: %w", err)
			}
		}
		line = appendRow(line[:0], rng)
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

// appendRow draws one row and appends it as a CSV line.
func appendRow(b []byte, rng *rand.Rand) []byte {
	u := rng.Float64()
	s := &sexes[2]
	for k := range sexes {
		if u < sexes[k].share {
			s = &sexes[k]
			break
		}
	}
	rings := math.Round(s.ringsMean * math.Exp(s.ringsSD*rng.NormFloat64()))
	rings = clamp(rings, 1, 29)
	// Growth slows with age: length approaches maxLength as rings grow.
	growth := 1 - math.Exp(-0.28*(rings-1.8))
	length := clamp(s.maxLength*math.Max(growth, 0.05)+0.06*rng.NormFloat64(), 0.075, 0.815)
	diameter := clamp(0.815*length-0.019+0.016*rng.NormFloat64(), 0.055, 0.65)
	height := clamp(0.288*length-0.011+0.015*rng.NormFloat64(), 0.01, 0.515)
	whole := clamp(math.Exp(1.616+3.03*math.Log(length)+0.15*rng.NormFloat64()), 0.002, 2.8255)
	// Older abalone carry relatively more shell and less meat.
	shucked := whole * clamp(0.501-0.0069*rings+0.05*rng.NormFloat64(), 0.15, 0.7)
	viscera := whole * clamp(0.2256-0.0007*rings+0.03*rng.NormFloat64(), 0.05, 0.4)
	shell := whole * clamp(0.271+0.0024*rings+0.04*rng.NormFloat64(), 0.1, 0.6)

	b = append(b, s.code...)
	for _, v := range [...]float64{length, diameter, height, whole, shucked, viscera, shell} {
		b = append(b, ',')
		b = appendFixed4(b, v)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(rings), 10)
	return append(b, '\n')
}

// appendFixed4 appends a non-negative v rounded to four decimals without trailing zeros
// (0.4341, 0.15, 1), which is much faster than shortest-float formatting for a million rows.
func appendFixed4(b []byte, v float64) []byte {
	n := int64(math.Round(v * 1e4))
	b = strconv.AppendInt(b, n/10000, 10)
	frac := n % 10000
	if frac == 0 {
		return b
	}
	digits := [4]byte{byte('0' + frac/1000), byte('0' + frac/100%10), byte('0' + frac/10%10), byte('0' + frac%10)}
	end := 4
	for digits[end-1] == '0' {
		end--
	}
	b = append(b, '.')
	return append(b, digits[:end]...)
}

func clamp(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }

// Main runs the synth image: `synth [-rows N] [-seed S] [-header] [-output DIR] [-file NAME]`.
// By SageMaker's processing convention the file goes to /opt/ml/processing/output/abalone.csv;
// -output - writes to stdout.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 4177, "number of data rows")
	seed := fs.Uint64("seed", 1, "random seed; the same seed gives the same file")
	header := fs.Bool("header", true, "write the column names as the first line")
	output := fs.String("output", "/opt/ml/processing/output", "output directory, or - for stdout")
	file := fs.String("file", "abalone.csv", "file name inside the output directory")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("synth: unexpected arguments %q", fs.Args())
	}
	opts := Options{Rows: *rows, Seed: *seed, Header: *header}
	if *output == "-" {
		return Write(ctx, stdout, opts)
	}
	if *file == "" || filepath.Base(*file) != *file {
		return errors.New("synth: -file must be a plain file name")
	}
	if err := os.MkdirAll(*output, 0o755); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	path := filepath.Join(*output, *file)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if err := Write(ctx, f, opts); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	fmt.Fprintf(stdout, "synth: wrote %d rows to %s\n", *rows, path)
	return nil
}
