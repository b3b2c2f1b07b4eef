package serving

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Content types of SageMaker's XGBoost container.
const (
	ctCSV       = "text/csv"
	ctLibSVM    = "text/libsvm"
	ctXLibSVM   = "text/x-libsvm"
	ctJSON      = "application/json"
	ctJSONLines = "application/jsonlines"
)

// mediaIs reports whether the content type ct (parameters allowed) is mt, ignoring case.
func mediaIs(ct, mt string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), mt)
}

// inputError is a payload the model cannot read: the model answers 400 with its message.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func badInput(format string, args ...any) error { return &inputError{fmt.Sprintf(format, args...)} }

// parseCSV reads rows of comma-separated numbers (an empty field is a missing value) into dst,
// row-major, and returns it with the number of rows. Blank lines are skipped.
func parseCSV(body []byte, nfeat int, dst []float32) ([]float32, int, error) {
	rows := 0
	for line := 1; len(body) > 0; line++ {
		var ln []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			ln, body = body[:i], body[i+1:]
		} else {
			ln, body = body, nil
		}
		ln = bytes.TrimRight(ln, "\r")
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		col := 0
		for {
			var field []byte
			i := bytes.IndexByte(ln, ',')
			if i >= 0 {
				field, ln = ln[:i], ln[i+1:]
			} else {
				field = ln
			}
			col++
			if col > nfeat {
				return dst, rows, badInput("CSV line %d has more than the model's %d features; send one row per line with no label column", line, nfeat)
			}
			v, err := parseValue(field)
			if err != nil {
				return dst, rows, badInput("CSV line %d, column %d: %q is not a number", line, col, field)
			}
			dst = append(dst, v)
			if i < 0 {
				break
			}
		}
		if col != nfeat {
			return dst, rows, badInput("CSV line %d has %d features; the model expects %d", line, col, nfeat)
		}
		rows++
	}
	if rows == 0 {
		return dst, 0, badInput("the request holds no CSV rows")
	}
	return dst, rows, nil
}

// parseValue reads one number; empty means missing (NaN).
func parseValue(b []byte) (float32, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return float32(math.NaN()), nil
	}
	// The conversion does not escape, so the compiler keeps short fields on the stack.
	f, err := strconv.ParseFloat(string(b), 32)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return float32(f), nil
		}
		return 0, err
	}
	return float32(f), nil
}

// parseLibSVM reads rows of "[label] index:value …" into dense rows; absent indices are
// missing values.
func parseLibSVM(body []byte, nfeat int, dst []float32) ([]float32, int, error) {
	rows := 0
	nan := float32(math.NaN())
	for line := 1; len(body) > 0; line++ {
		var ln []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			ln, body = body[:i], body[i+1:]
		} else {
			ln, body = body, nil
		}
		fields := bytes.Fields(ln)
		if len(fields) == 0 {
			continue
		}
		start := len(dst)
		for range nfeat {
			dst = append(dst, nan)
		}
		for _, f := range fields {
			k, v, ok := bytes.Cut(f, []byte{':'})
			if !ok {
				continue // the label
			}
			idx, err := strconv.Atoi(string(k))
			if err != nil || idx < 0 || idx >= nfeat {
				return dst, rows, badInput("libsvm line %d: feature index %q is not between 0 and %d", line, k, nfeat-1)
			}
			x, err := parseValue(v)
			if err != nil {
				return dst, rows, badInput("libsvm line %d: %q is not a number", line, v)
			}
			dst[start+idx] = x
		}
		rows++
	}
	if rows == 0 {
		return dst, 0, badInput("the request holds no libsvm rows")
	}
	return dst, rows, nil
}

// parseJSON reads {"instances": [[…], …]}, {"instances": [{"features": […]}, …]}, a list of
// rows, or a single row.
func parseJSON(body []byte, nfeat int, dst []float32) ([]float32, int, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return dst, 0, badInput("the request is not valid JSON: %v", err)
	}
	var instances []any
	switch d := doc.(type) {
	case map[string]any:
		v, ok := d["instances"]
		if !ok {
			return dst, 0, badInput(`JSON input must be {"instances": [[features…], …]}`)
		}
		instances, ok = v.([]any)
		if !ok {
			return dst, 0, badInput(`"instances" must be a list of rows`)
		}
	case []any:
		if len(d) > 0 {
			if _, isNum := d[0].(json.Number); isNum {
				instances = []any{d}
				break
			}
		}
		instances = d
	default:
		return dst, 0, badInput(`JSON input must be {"instances": [[features…], …]}`)
	}
	for i, inst := range instances {
		if m, ok := inst.(map[string]any); ok {
			inst = m["features"]
		}
		row, ok := inst.([]any)
		if !ok {
			return dst, i, badInput("instance %d is not a list of numbers", i)
		}
		if len(row) != nfeat {
			return dst, i, badInput("instance %d has %d features; the model expects %d", i, len(row), nfeat)
		}
		for j, x := range row {
			switch v := x.(type) {
			case json.Number:
				f, err := strconv.ParseFloat(string(v), 32)
				if err != nil {
					return dst, i, badInput("instance %d, feature %d: %s is not a number", i, j, v)
				}
				dst = append(dst, float32(f))
			case nil:
				dst = append(dst, float32(math.NaN()))
			default:
				return dst, i, badInput("instance %d, feature %d is not a number", i, j)
			}
		}
	}
	if len(instances) == 0 {
		return dst, 0, badInput("the request holds no instances")
	}
	return dst, len(instances), nil
}

func appendFloat(dst []byte, v float32) []byte {
	if math.IsNaN(float64(v)) {
		return append(dst, "nan"...)
	}
	return strconv.AppendFloat(dst, float64(v), 'g', -1, 32)
}

// encodeCSV writes one line per row, its outputs separated by commas.
func encodeCSV(dst []byte, out []float32, perRow int) []byte {
	for i := 0; i < len(out); i += perRow {
		if i > 0 {
			dst = append(dst, '\n')
		}
		for j := range perRow {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendFloat(dst, out[i+j])
		}
	}
	return dst
}

func appendScore(dst []byte, row []float32) []byte {
	dst = append(dst, `{"score":`...)
	if len(row) == 1 {
		dst = appendJSONFloat(dst, row[0])
	} else {
		dst = append(dst, '[')
		for j, v := range row {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONFloat(dst, v)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func appendJSONFloat(dst []byte, v float32) []byte {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, float64(v), 'g', -1, 32)
}

// encodeJSON writes {"predictions": [{"score": …}, …]}.
func encodeJSON(dst []byte, out []float32, perRow int) []byte {
	dst = append(dst, `{"predictions":[`...)
	for i := 0; i < len(out); i += perRow {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendScore(dst, out[i:i+perRow])
	}
	return append(dst, "]}"...)
}

// encodeJSONLines writes one {"score": …} object per line.
func encodeJSONLines(dst []byte, out []float32, perRow int) []byte {
	for i := 0; i < len(out); i += perRow {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = appendScore(dst, out[i:i+perRow])
	}
	return dst
}
