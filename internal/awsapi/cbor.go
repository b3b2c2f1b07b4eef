package awsapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// This file is the subset of CBOR (RFC 8949) that Smithy's RPC v2 CBOR protocol uses: maps with
// text keys, arrays, text and byte strings, integers, floats (half, single and double on input),
// booleans, null and tag 1 (epoch-seconds timestamps). Decoding produces the protocol-neutral
// tree the query codec assigns from; encoding writes definite lengths only.

const (
	cborUint   = 0
	cborNegInt = 1
	cborBytes  = 2
	cborText   = 3
	cborArray  = 4
	cborMap    = 5
	cborTag    = 6
	cborSimple = 7

	cborMaxDepth = 64
)

var errCBORTruncated = errors.New("cbor: truncated input")

// cborDecode parses one CBOR data item that must span all of p.
func cborDecode(p []byte) (any, error) {
	d := cborDecoder{p: p}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.off != len(p) {
		return nil, fmt.Errorf("cbor: %d bytes after the top-level item", len(p)-d.off)
	}
	return v, nil
}

type cborDecoder struct {
	p   []byte
	off int
}

// head reads an item's initial byte and argument. indefinite is set for minor 31.
func (d *cborDecoder) head() (major byte, arg uint64, indefinite bool, err error) {
	if d.off >= len(d.p) {
		return 0, 0, false, errCBORTruncated
	}
	b := d.p[d.off]
	d.off++
	major, minor := b>>5, b&0x1f
	switch {
	case minor < 24:
		return major, uint64(minor), false, nil
	case minor == 24:
		if d.off+1 > len(d.p) {
			return 0, 0, false, errCBORTruncated
		}
		arg = uint64(d.p[d.off])
		d.off++
	case minor == 25:
		if d.off+2 > len(d.p) {
			return 0, 0, false, errCBORTruncated
		}
		arg = uint64(binary.BigEndian.Uint16(d.p[d.off:]))
		d.off += 2
	case minor == 26:
		if d.off+4 > len(d.p) {
			return 0, 0, false, errCBORTruncated
		}
		arg = uint64(binary.BigEndian.Uint32(d.p[d.off:]))
		d.off += 4
	case minor == 27:
		if d.off+8 > len(d.p) {
			return 0, 0, false, errCBORTruncated
		}
		arg = binary.BigEndian.Uint64(d.p[d.off:])
		d.off += 8
	case minor == 31:
		return major, 0, true, nil
	default:
		return 0, 0, false, fmt.Errorf("cbor: reserved additional information %d", minor)
	}
	return major, arg, false, nil
}

// count checks a length against the bytes left, so a forged length cannot allocate.
func (d *cborDecoder) count(n uint64, min int) (int, error) {
	if n > uint64(len(d.p)-d.off)/uint64(max(min, 1)) {
		return 0, errCBORTruncated
	}
	return int(n), nil
}

func (d *cborDecoder) atBreak() bool { return d.off < len(d.p) && d.p[d.off] == 0xff }

func (d *cborDecoder) value(depth int) (any, error) {
	if depth > cborMaxDepth {
		return nil, errors.New("cbor: nested too deeply")
	}
	start := d.off
	major, arg, indef, err := d.head()
	if err != nil {
		return nil, err
	}
	if indef && (major == cborUint || major == cborNegInt || major == cborTag) {
		return nil, fmt.Errorf("cbor: indefinite length on major type %d", major)
	}
	switch major {
	case cborUint:
		if arg > math.MaxInt64 {
			return float64(arg), nil
		}
		return int64(arg), nil
	case cborNegInt:
		if arg > math.MaxInt64 {
			return -1 - float64(arg), nil
		}
		return -1 - int64(arg), nil
	case cborBytes, cborText:
		b, err := d.str(major, arg, indef)
		if err != nil {
			return nil, err
		}
		if major == cborBytes {
			return b, nil
		}
		if !utf8.Valid(b) {
			return nil, errors.New("cbor: text string is not UTF-8")
		}
		return string(b), nil
	case cborArray:
		var out []any
		if !indef {
			n, err := d.count(arg, 1)
			if err != nil {
				return nil, err
			}
			out = make([]any, 0, n)
		} else {
			out = []any{}
		}
		for i := 0; indef || i < int(arg); i++ {
			if indef && d.atBreak() {
				d.off++
				break
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case cborMap:
		out := map[string]any{}
		if !indef {
			if _, err := d.count(arg, 2); err != nil {
				return nil, err
			}
		}
		for i := 0; indef || i < int(arg); i++ {
			if indef && d.atBreak() {
				d.off++
				break
			}
			k, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("cbor: map key is %T, not a text string", k)
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out[ks] = v
		}
		return out, nil
	case cborTag:
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if arg != 1 {
			return v, nil
		}
		switch x := v.(type) {
		case int64:
			return time.Unix(x, 0).UTC(), nil
		case float64:
			sec, frac := math.Modf(x)
			return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
		}
		return nil, fmt.Errorf("cbor: timestamp tag holds %T, not a number", v)
	default: // cborSimple
		switch d.p[start] & 0x1f {
		case 20:
			return false, nil
		case 21:
			return true, nil
		case 22, 23:
			return nil, nil
		case 25:
			return float64(halfToFloat(uint16(arg))), nil
		case 26:
			return float64(math.Float32frombits(uint32(arg))), nil
		case 27:
			return math.Float64frombits(arg), nil
		}
		return nil, fmt.Errorf("cbor: unsupported simple value %d", d.p[start]&0x1f)
	}
}

// str reads a byte or text string, joining the chunks of an indefinite one.
func (d *cborDecoder) str(major byte, arg uint64, indef bool) ([]byte, error) {
	if !indef {
		n, err := d.count(arg, 1)
		if err != nil {
			return nil, err
		}
		b := d.p[d.off : d.off+n]
		d.off += n
		return b, nil
	}
	var out []byte
	for {
		if d.atBreak() {
			d.off++
			return out, nil
		}
		m, n, ind, err := d.head()
		if err != nil {
			return nil, err
		}
		if m != major || ind {
			return nil, errors.New("cbor: bad chunk in an indefinite-length string")
		}
		c, err := d.str(major, n, false)
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0:
		// Subnormal: mant × 2^-24.
		f := float32(mant) * float32(math.Ldexp(1, -24))
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// cborEncoder appends CBOR for the encoded response tree (see encodeTree).
type cborEncoder struct{ b []byte }

func (e *cborEncoder) head(major byte, n uint64) {
	m := major << 5
	switch {
	case n < 24:
		e.b = append(e.b, m|byte(n))
	case n <= math.MaxUint8:
		e.b = append(e.b, m|24, byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, m|25)
		e.b = binary.BigEndian.AppendUint16(e.b, uint16(n))
	case n <= math.MaxUint32:
		e.b = append(e.b, m|26)
		e.b = binary.BigEndian.AppendUint32(e.b, uint32(n))
	default:
		e.b = append(e.b, m|27)
		e.b = binary.BigEndian.AppendUint64(e.b, n)
	}
}

func (e *cborEncoder) text(s string) {
	e.head(cborText, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *cborEncoder) float(f float64) {
	e.b = append(e.b, cborSimple<<5|27)
	e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(f))
}

func (e *cborEncoder) value(v any) {
	switch x := v.(type) {
	case object:
		e.head(cborMap, uint64(len(x)))
		for _, f := range x {
			e.text(f.name)
			e.value(f.value)
		}
	case entries:
		e.head(cborMap, uint64(len(x)))
		for _, f := range x {
			e.text(f.name)
			e.value(f.value)
		}
	case list:
		e.head(cborArray, uint64(len(x)))
		for _, it := range x {
			e.value(it)
		}
	case string:
		e.text(x)
	case bool:
		if x {
			e.b = append(e.b, cborSimple<<5|21)
		} else {
			e.b = append(e.b, cborSimple<<5|20)
		}
	case int64:
		if x >= 0 {
			e.head(cborUint, uint64(x))
		} else {
			e.head(cborNegInt, uint64(-1-x))
		}
	case float64:
		e.float(x)
	case time.Time:
		e.head(cborTag, 1)
		e.float(float64(x.UnixMilli()) / 1e3)
	case []byte:
		e.head(cborBytes, uint64(len(x)))
		e.b = append(e.b, x...)
	case nil:
		e.b = append(e.b, cborSimple<<5|22)
	default:
		panic(fmt.Sprintf("awsapi: cannot encode %T as CBOR", v))
	}
}
