package transform

import (
	"bytes"
	"errors"
	"fmt"
)

// trimNewline drops one trailing line break (\n or \r\n).
func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// blank reports whether a line (without its \n) holds no record.
func blank(line []byte) bool {
	return len(line) == 0 || len(line) == 1 && line[0] == '\r'
}

// eachLine calls fn for every line of b (without its \n, \r kept), counting from 0.
func eachLine(b []byte, fn func(i int, line []byte) error) error {
	for i := 0; len(b) > 0; i++ {
		var line []byte
		if j := bytes.IndexByte(b, '\n'); j >= 0 {
			line, b = b[:j], b[j+1:]
		} else {
			line, b = b, nil
		}
		if err := fn(i, line); err != nil {
			return err
		}
	}
	return nil
}

// countRecords counts the lines of b that hold a record.
func countRecords(b []byte) int {
	n := 0
	eachLine(b, func(_ int, line []byte) error {
		if !blank(line) {
			n++
		}
		return nil
	})
	return n
}

// filterInput appends what the model sees of one record: the InputFilter's selection, written
// in the record's own format.
func (pl *plan) filterInput(dst, rec []byte, fields *[][]byte) ([]byte, error) {
	if pl.inFilter.Whole() {
		return append(dst, rec...), nil
	}
	if pl.inFmt == formatCSV {
		*fields = splitCSV(rec, (*fields)[:0])
		sel, err := pl.inFilter.SelectFields(*fields, nil)
		if err != nil {
			return dst, err
		}
		return appendCSVRecord(dst, sel), nil
	}
	v, err := parseJSONValue(rec)
	if err != nil {
		return dst, fmt.Errorf("the record is not valid JSON: %v", err)
	}
	sel, err := pl.inFilter.Select(v)
	if err != nil {
		return dst, err
	}
	return appendJSON(dst, sel), nil
}

// errAnswerShape is a model answer that cannot be matched to the mini-batch's records.
var errAnswerShape = errors.New("answer does not match the records")

// splitAnswer cuts a model's answer to n records into one answer per record: lines for CSV,
// JSON Lines and other text, and for a JSON document an array of n elements or an object whose
// only member is one ({"predictions": [...]}).
func splitAnswer(body []byte, n int, f format) ([][]byte, error) {
	if n == 1 {
		return [][]byte{trimNewline(body)}, nil
	}
	if f == formatJSON {
		v, err := parseJSONValue(body)
		if err != nil {
			return nil, fmt.Errorf("%w: the answer is not valid JSON: %v", errAnswerShape, err)
		}
		arr, ok := v.([]any)
		if o, isObj := v.(*jsonObject); isObj && len(o.vals) == 1 {
			arr, ok = o.vals[0].([]any)
		}
		if !ok {
			return nil, fmt.Errorf("%w: a JSON answer to %d records must be an array of %d answers, or an object holding one", errAnswerShape, n, n)
		}
		if len(arr) != n {
			return nil, fmt.Errorf("%w: the model answered %d records for %d", errAnswerShape, len(arr), n)
		}
		out := make([][]byte, n)
		for i, e := range arr {
			out[i] = appendJSON(nil, e)
		}
		return out, nil
	}
	out := make([][]byte, 0, n)
	eachLine(trimNewline(body), func(_ int, line []byte) error {
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		out = append(out, line)
		return nil
	})
	if len(out) != n {
		return nil, fmt.Errorf("%w: the model answered %d lines for %d records", errAnswerShape, len(out), n)
	}
	return out, nil
}

// outputRecord appends one record of the output: the answer, or the answer joined to its
// input record, through the OutputFilter.
func (pl *plan) outputRecord(dst, input, answer []byte, ansFmt format, fields *[][]byte) ([]byte, error) {
	if !pl.join {
		switch {
		case pl.outFilter.Whole():
			return append(dst, answer...), nil
		case ansFmt == formatCSV:
			*fields = splitCSV(answer, (*fields)[:0])
			sel, err := pl.outFilter.SelectFields(*fields, nil)
			if err != nil {
				return dst, err
			}
			return appendCSVRecord(dst, sel), nil
		case ansFmt.json():
			v, err := parseJSONValue(answer)
			if err != nil {
				return dst, fmt.Errorf("the model's answer is not valid JSON: %v", err)
			}
			sel, err := pl.outFilter.Select(v)
			if err != nil {
				return dst, err
			}
			return appendJSON(dst, sel), nil
		}
		return dst, errors.New("OutputFilter works on CSV and JSON answers; set TransformOutput.Accept to text/csv, application/json or application/jsonlines")
	}
	if pl.inFmt == formatCSV {
		// The input record's fields, then the answer's (SageMaker treats a CSV row as an array
		// and appends the answer to it).
		*fields = splitCSV(input, (*fields)[:0])
		if ansFmt == formatCSV {
			*fields = splitCSV(answer, *fields)
		} else {
			*fields = append(*fields, appendCSVField(nil, answer))
		}
		sel, err := pl.outFilter.SelectFields(*fields, nil)
		if err != nil {
			return dst, err
		}
		return appendCSVRecord(dst, sel), nil
	}
	in, err := parseJSONValue(input)
	if err != nil {
		return dst, fmt.Errorf("the record is not valid JSON: %v", err)
	}
	var out any = string(answer)
	if v, err := parseJSONValue(answer); err == nil {
		out = v
	}
	// An object gets the answer as SageMakerOutput; anything else is wrapped.
	obj, ok := in.(*jsonObject)
	if ok {
		obj.set("SageMakerOutput", out)
	} else {
		obj = &jsonObject{keys: []string{"SageMakerInput", "SageMakerOutput"}, vals: []any{in, out}}
	}
	sel, err := pl.outFilter.Select(obj)
	if err != nil {
		return dst, err
	}
	return appendJSON(dst, sel), nil
}
