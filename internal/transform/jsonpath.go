package transform

import (
	"fmt"
	"strconv"
	"strings"
)

// Path is a filter of DataProcessing: the subset of JSONPath that SageMaker's batch transform
// supports.
//
//	$                    the whole record
//	.name  ['name']      a member of an object
//	['a','b']            several members: an object holding just those
//	[2]  [-1]            an element of an array (negative counts from the end)
//	[0,2,-1]             several elements: an array of them
//	[1:4]  [2:]  [:5]    a range of elements, both ends included, as SageMaker documents it
//	*  [*]               every element (or every member's value)
//
// A CSV record is an array of its fields, so only index selections apply to it. As SageMaker
// says, a selection of several elements ends the path ($.a['b','c'] is fine, $['a','b'].c is
// not), and a range stands alone ([0:2,5:] is refused).
type Path struct {
	text  string
	steps []pathStep
}

type selKind int

const (
	selName    selKind = iota // .name or ['name']
	selNames                  // ['a','b']
	selIndex                  // [i]
	selIndexes                // [i,j]
	selSlice                  // [lo:hi]
	selAll                    // * or [*]
)

type pathStep struct {
	kind         selKind
	names        []string
	idx          []int
	lo, hi       int
	hasLo, hasHi bool
}

// multi reports whether the step selects several elements.
func (s pathStep) multi() bool {
	return s.kind == selNames || s.kind == selIndexes || s.kind == selSlice || s.kind == selAll
}

// ParsePath parses a filter; the empty string and "$" select the whole record.
func ParsePath(text string) (*Path, error) {
	p := &Path{text: text}
	s := strings.TrimSpace(text)
	if s == "" {
		return p, nil
	}
	if s[0] != '$' {
		return nil, pathErr(text, "a path starts with $")
	}
	i := 1
	for i < len(s) {
		if n := len(p.steps); n > 0 && p.steps[n-1].multi() {
			return nil, pathErr(text, "a selection of several elements must end the path")
		}
		switch s[i] {
		case '.':
			i++
			switch {
			case i >= len(s):
				return nil, pathErr(text, "a name must follow the dot")
			case s[i] == '*':
				p.steps = append(p.steps, pathStep{kind: selAll})
				i++
			case s[i] == '[':
				// $.field1.['child1','child2'] is SageMaker's documented spelling too.
			default:
				j := i
				for j < len(s) && s[j] != '.' && s[j] != '[' {
					j++
				}
				name := s[i:j]
				if strings.ContainsAny(name, " ]'\"*:,") {
					return nil, pathErr(text, fmt.Sprintf("%q is not a plain name; quote it in brackets: ['%s']", name, name))
				}
				p.steps = append(p.steps, pathStep{kind: selName, names: []string{name}})
				i = j
			}
		case '[':
			end, err := closingBracket(s, i)
			if err != nil {
				return nil, pathErr(text, err.Error())
			}
			st, err := parseBracket(s[i+1 : end])
			if err != nil {
				return nil, pathErr(text, err.Error())
			}
			p.steps = append(p.steps, st)
			i = end + 1
		default:
			return nil, pathErr(text, fmt.Sprintf("unexpected %q at position %d; expected .name or [selection]", s[i], i))
		}
	}
	return p, nil
}

func pathErr(text, why string) error {
	return fmt.Errorf("Invalid JsonPath: %s: %s", text, why)
}

// closingBracket finds the ] that closes the [ at s[open], skipping quoted names.
func closingBracket(s string, open int) (int, error) {
	var quote byte
	for i := open + 1; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[':
			return 0, fmt.Errorf("nested brackets are not supported")
		case c == ']':
			return i, nil
		}
	}
	return 0, fmt.Errorf("the [ at position %d is not closed", open)
}

// parseBracket reads what stands between [ and ].
func parseBracket(in string) (pathStep, error) {
	in = strings.TrimSpace(in)
	switch {
	case in == "":
		return pathStep{}, fmt.Errorf("empty brackets")
	case in == "*":
		return pathStep{kind: selAll}, nil
	case in[0] == '\'' || in[0] == '"':
		var names []string
		rest := in
		for {
			rest = strings.TrimSpace(rest)
			if rest == "" || (rest[0] != '\'' && rest[0] != '"') {
				return pathStep{}, fmt.Errorf("[%s]: names in brackets are quoted and separated by commas", in)
			}
			q := rest[0]
			end := strings.IndexByte(rest[1:], q)
			if end < 0 {
				return pathStep{}, fmt.Errorf("[%s]: unterminated quote", in)
			}
			name := rest[1 : 1+end]
			if strings.ContainsAny(name, ".[]") {
				return pathStep{}, fmt.Errorf("[%s]: nested names such as %q are not supported inside brackets", in, name)
			}
			names = append(names, name)
			rest = strings.TrimSpace(rest[2+end:])
			if rest == "" {
				break
			}
			if rest[0] != ',' {
				return pathStep{}, fmt.Errorf("[%s]: names in brackets are separated by commas", in)
			}
			rest = rest[1:]
		}
		if len(names) == 1 {
			return pathStep{kind: selName, names: names}, nil
		}
		return pathStep{kind: selNames, names: names}, nil
	case strings.Contains(in, ":"):
		if strings.Contains(in, ",") {
			return pathStep{}, fmt.Errorf("only single range filters of format (eg: [1:5]) are supported. Format [%s] is not supported", in)
		}
		lo, hi, _ := strings.Cut(in, ":")
		if strings.Contains(hi, ":") {
			return pathStep{}, fmt.Errorf("[%s]: a step in a range is not supported", in)
		}
		st := pathStep{kind: selSlice}
		var err error
		if lo = strings.TrimSpace(lo); lo != "" {
			if st.lo, err = strconv.Atoi(lo); err != nil {
				return pathStep{}, fmt.Errorf("[%s]: %q is not an integer", in, lo)
			}
			st.hasLo = true
		}
		if hi = strings.TrimSpace(hi); hi != "" {
			if st.hi, err = strconv.Atoi(hi); err != nil {
				return pathStep{}, fmt.Errorf("[%s]: %q is not an integer", in, hi)
			}
			st.hasHi = true
		}
		return st, nil
	}
	var idx []int
	for part := range strings.SplitSeq(in, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return pathStep{}, fmt.Errorf("[%s]: %q is not an integer index (quote names: ['name'])", in, strings.TrimSpace(part))
		}
		idx = append(idx, n)
	}
	if len(idx) == 1 {
		return pathStep{kind: selIndex, idx: idx}, nil
	}
	return pathStep{kind: selIndexes, idx: idx}, nil
}

// String returns the path as written.
func (p *Path) String() string { return p.text }

// Whole reports whether the path selects the whole record.
func (p *Path) Whole() bool { return p == nil || len(p.steps) == 0 }

// ForCSV reports why the path cannot apply to CSV records (arrays of fields), or nil.
func (p *Path) ForCSV() error {
	if p.Whole() {
		return nil
	}
	if len(p.steps) > 1 || p.steps[0].kind == selName || p.steps[0].kind == selNames {
		return pathErr(p.text, "a CSV record is an array of its fields; select them by index, as in $[0], $[1:] or $[0,-1]")
	}
	return nil
}

// indexes resolves an array step against an array of n elements.
func (s pathStep) indexes(n int, text string) ([]int, error) {
	norm := func(i int) (int, error) {
		j := i
		if j < 0 {
			j += n
		}
		if j < 0 || j >= n {
			return 0, fmt.Errorf("%s: index %d is outside a record of %d elements", text, i, n)
		}
		return j, nil
	}
	switch s.kind {
	case selAll:
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out, nil
	case selIndex, selIndexes:
		out := make([]int, len(s.idx))
		for k, i := range s.idx {
			j, err := norm(i)
			if err != nil {
				return nil, err
			}
			out[k] = j
		}
		return out, nil
	case selSlice:
		lo, hi := 0, n-1
		var err error
		if s.hasLo {
			if lo, err = norm(s.lo); err != nil {
				return nil, err
			}
		}
		if s.hasHi {
			if hi, err = norm(s.hi); err != nil {
				return nil, err
			}
		}
		if lo > hi {
			return nil, fmt.Errorf("%s: the range selects nothing from a record of %d elements", text, n)
		}
		out := make([]int, 0, hi-lo+1)
		for i := lo; i <= hi; i++ {
			out = append(out, i)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: select array elements by index", text)
}

// SelectFields applies a CSV-compatible path (see ForCSV) to a record's fields; the result
// shares the fields' memory.
func (p *Path) SelectFields(fields [][]byte, dst [][]byte) ([][]byte, error) {
	if p.Whole() {
		return append(dst, fields...), nil
	}
	idx, err := p.steps[0].indexes(len(fields), p.text)
	if err != nil {
		return dst, err
	}
	for _, i := range idx {
		dst = append(dst, fields[i])
	}
	return dst, nil
}

// Select applies the path to a JSON value (see parseJSONValue).
func (p *Path) Select(v any) (any, error) {
	if p.Whole() {
		return v, nil
	}
	for _, s := range p.steps {
		switch s.kind {
		case selName, selNames:
			obj, ok := v.(*jsonObject)
			if !ok {
				return nil, fmt.Errorf("%s: ['%s'] selects a member, but the value is %s", p.text, strings.Join(s.names, "','"), describeJSON(v))
			}
			if s.kind == selName {
				x, ok := obj.get(s.names[0])
				if !ok {
					return nil, fmt.Errorf("%s: the record has no member %q", p.text, s.names[0])
				}
				v = x
				continue
			}
			out := &jsonObject{}
			for _, n := range s.names {
				x, ok := obj.get(n)
				if !ok {
					return nil, fmt.Errorf("%s: the record has no member %q", p.text, n)
				}
				out.set(n, x)
			}
			v = out
		case selAll:
			switch x := v.(type) {
			case []any:
				v = x
			case *jsonObject:
				v = append([]any(nil), x.vals...)
			default:
				return nil, fmt.Errorf("%s: * selects elements, but the value is %s", p.text, describeJSON(v))
			}
		default:
			arr, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: an index selects an array element, but the value is %s", p.text, describeJSON(v))
			}
			idx, err := s.indexes(len(arr), p.text)
			if err != nil {
				return nil, err
			}
			if s.kind == selIndex {
				v = arr[idx[0]]
				continue
			}
			out := make([]any, len(idx))
			for k, i := range idx {
				out[k] = arr[i]
			}
			v = out
		}
	}
	return v, nil
}
