package xgboost

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// maxUBJSONDepth bounds container nesting; XGBoost models nest about six deep.
const maxUBJSONDepth = 64

// ubjsonToJSON transcodes a Universal Binary JSON document (draft 12, big-endian, as
// XGBoost's UBJSON writer produces it, including typed and counted containers) into JSON
// text, so that both encodings share one decoder. float32 values are written with the
// shortest decimal that reads back as the same float32, so no precision is lost.
func ubjsonToJSON(data []byte) ([]byte, error) {
	d := ubjDecoder{in: data, out: make([]byte, 0, len(data)*2)}
	if err := d.value(d.next(), 0); err != nil {
		return nil, fmt.Errorf("at byte %d: %w", d.pos, err)
	}
	if d.err != nil {
		return nil, fmt.Errorf("at byte %d: %w", d.pos, d.err)
	}
	for d.pos < len(d.in) && d.in[d.pos] == 'N' {
		d.pos++
	}
	if d.pos != len(d.in) {
		return nil, fmt.Errorf("at byte %d: trailing data after the document", d.pos)
	}
	return d.out, nil
}

var errUBJSONShort = errors.New("unexpected end of data")

type ubjDecoder struct {
	in  []byte
	pos int
	out []byte
	err error
}

// next returns the next marker byte, skipping no-op markers.
func (d *ubjDecoder) next() byte {
	for d.pos < len(d.in) {
		c := d.in[d.pos]
		d.pos++
		if c != 'N' {
			return c
		}
	}
	d.fail(errUBJSONShort)
	return 0
}

func (d *ubjDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// take returns the next n bytes.
func (d *ubjDecoder) take(n int) []byte {
	if n < 0 || len(d.in)-d.pos < n {
		d.fail(errUBJSONShort)
		return nil
	}
	b := d.in[d.pos : d.pos+n]
	d.pos += n
	return b
}

// integer reads an integer value of the given type marker.
func (d *ubjDecoder) integer(marker byte) (int64, bool) {
	switch marker {
	case 'i':
		b := d.take(1)
		if b == nil {
			return 0, false
		}
		return int64(int8(b[0])), true
	case 'U':
		b := d.take(1)
		if b == nil {
			return 0, false
		}
		return int64(b[0]), true
	case 'I':
		b := d.take(2)
		if b == nil {
			return 0, false
		}
		return int64(int16(binary.BigEndian.Uint16(b))), true
	case 'l':
		b := d.take(4)
		if b == nil {
			return 0, false
		}
		return int64(int32(binary.BigEndian.Uint32(b))), true
	case 'L':
		b := d.take(8)
		if b == nil {
			return 0, false
		}
		return int64(binary.BigEndian.Uint64(b)), true
	}
	d.fail(fmt.Errorf("expected an integer type marker, got %q", marker))
	return 0, false
}

// length reads a non-negative length or count.
func (d *ubjDecoder) length() (int, bool) {
	n, ok := d.integer(d.next())
	if !ok {
		return 0, false
	}
	if n < 0 || n > int64(len(d.in)) {
		d.fail(fmt.Errorf("length %d out of range", n))
		return 0, false
	}
	return int(n), true
}

// fixedSize is the payload size of fixed-size types, used to bound counted containers.
func fixedSize(marker byte) int {
	switch marker {
	case 'Z', 'T', 'F', 'N':
		return 0
	case 'i', 'U', 'C':
		return 1
	case 'I':
		return 2
	case 'l', 'd':
		return 4
	case 'L', 'D':
		return 8
	}
	return 1
}

// value transcodes one value whose marker has been read.
func (d *ubjDecoder) value(marker byte, depth int) error {
	if d.err != nil {
		return d.err
	}
	switch marker {
	case 'Z':
		d.out = append(d.out, "null"...)
	case 'T':
		d.out = append(d.out, "true"...)
	case 'F':
		d.out = append(d.out, "false"...)
	case 'i', 'U', 'I', 'l', 'L':
		v, ok := d.integer(marker)
		if !ok {
			return d.err
		}
		d.out = strconv.AppendInt(d.out, v, 10)
	case 'd':
		b := d.take(4)
		if b == nil {
			return d.err
		}
		return d.float(float64(math.Float32frombits(binary.BigEndian.Uint32(b))), 32)
	case 'D':
		b := d.take(8)
		if b == nil {
			return d.err
		}
		return d.float(math.Float64frombits(binary.BigEndian.Uint64(b)), 64)
	case 'C':
		b := d.take(1)
		if b == nil {
			return d.err
		}
		d.out = appendString(d.out, string(b))
	case 'S', 'H':
		n, ok := d.length()
		if !ok {
			return d.err
		}
		b := d.take(n)
		if b == nil {
			return d.err
		}
		if marker == 'H' {
			if !json.Valid(b) {
				return fmt.Errorf("invalid high-precision number %q", b)
			}
			d.out = append(d.out, b...)
		} else {
			if !utf8.Valid(b) {
				return errors.New("string is not valid UTF-8")
			}
			d.out = appendString(d.out, string(b))
		}
	case '[', '{':
		return d.container(marker, depth+1)
	default:
		return fmt.Errorf("unknown type marker %q", marker)
	}
	return d.err
}

func (d *ubjDecoder) float(f float64, bits int) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("non-finite number %v", f)
	}
	d.out = strconv.AppendFloat(d.out, f, 'g', -1, bits)
	return nil
}

// container transcodes an array or object, with the optional $type and #count headers.
func (d *ubjDecoder) container(open byte, depth int) error {
	if depth > maxUBJSONDepth {
		return errors.New("containers nested too deeply")
	}
	isObject := open == '{'
	closeMarker := byte(']')
	if isObject {
		closeMarker = '}'
	}
	var elemType byte
	count := -1
	if d.pos < len(d.in) && d.in[d.pos] == '$' {
		d.pos++
		elemType = d.next()
		if d.pos >= len(d.in) || d.in[d.pos] != '#' {
			return errors.New("typed container without a count")
		}
	}
	if d.pos < len(d.in) && d.in[d.pos] == '#' {
		d.pos++
		n, ok := d.length()
		if !ok {
			return d.err
		}
		if elemType != 0 && n*fixedSize(elemType) > len(d.in)-d.pos {
			return fmt.Errorf("container of %d elements exceeds the data", n)
		}
		count = n
	}
	if isObject {
		d.out = append(d.out, '{')
	} else {
		d.out = append(d.out, '[')
	}
	for i := 0; count < 0 || i < count; i++ {
		var marker byte
		if count < 0 {
			// Peek for the end of an uncounted container (keys carry no marker).
			for d.pos < len(d.in) && d.in[d.pos] == 'N' {
				d.pos++
			}
			if d.pos >= len(d.in) {
				return errUBJSONShort
			}
			if d.in[d.pos] == closeMarker {
				d.pos++
				break
			}
		}
		if i > 0 {
			d.out = append(d.out, ',')
		}
		if isObject {
			n, ok := d.length()
			if !ok {
				return d.err
			}
			key := d.take(n)
			if key == nil {
				return d.err
			}
			if !utf8.Valid(key) {
				return errors.New("object key is not valid UTF-8")
			}
			d.out = appendString(d.out, string(key))
			d.out = append(d.out, ':')
		}
		if elemType != 0 {
			marker = elemType
		} else {
			marker = d.next()
		}
		if err := d.value(marker, depth); err != nil {
			return err
		}
	}
	if isObject {
		d.out = append(d.out, '}')
	} else {
		d.out = append(d.out, ']')
	}
	return d.err
}
