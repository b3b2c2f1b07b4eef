package transform

import (
	"strings"
	"testing"
)

func TestPathOnCSV(t *testing.T) {
	record := []byte(`7,"a, b",3.5,"say ""hi""",-1`)
	tests := []struct {
		name, path, want, err string
	}{
		{name: "whole record", path: "$", want: `7,"a, b",3.5,"say ""hi""",-1`},
		{name: "empty path is the whole record", path: "", want: `7,"a, b",3.5,"say ""hi""",-1`},
		{name: "drop the id column", path: "$[1:]", want: `"a, b",3.5,"say ""hi""",-1`},
		{name: "range includes both ends", path: "$[1:3]", want: `"a, b",3.5,"say ""hi"""`},
		{name: "range from the start", path: "$[:1]", want: `7,"a, b"`},
		{name: "negative range end", path: "$[2:-1]", want: `3.5,"say ""hi""",-1`},
		{name: "one index", path: "$[2]", want: `3.5`},
		{name: "first and last", path: "$[0,-1]", want: `7,-1`},
		{name: "wildcard", path: "$[*]", want: `7,"a, b",3.5,"say ""hi""",-1`},
		{name: "index out of range", path: "$[5]", err: "index 5 is outside a record of 5 elements"},
		{name: "negative index out of range", path: "$[-6]", err: "index -6 is outside"},
		{name: "empty range", path: "$[3:1]", err: "selects nothing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.ForCSV(); err != nil {
				t.Fatal(err)
			}
			sel, err := p.SelectFields(splitCSV(record, nil), nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(appendCSVRecord(nil, sel)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPathOnJSON(t *testing.T) {
	record := []byte(`{"id": "r1", "features": [1, 2.50, 3], "meta": {"a": true, "b": null}, "SageMakerOutput": {"score": 0.5}}`)
	tests := []struct {
		name, path, want, err string
	}{
		{name: "whole record keeps member order and numbers as written", path: "$", want: `{"id":"r1","features":[1,2.50,3],"meta":{"a":true,"b":null},"SageMakerOutput":{"score":0.5}}`},
		{name: "dot member", path: "$.features", want: `[1,2.50,3]`},
		{name: "nested member", path: "$.meta.a", want: `true`},
		{name: "bracket member", path: "$['id']", want: `"r1"`},
		{name: "several members", path: "$['id','SageMakerOutput']", want: `{"id":"r1","SageMakerOutput":{"score":0.5}}`},
		{name: "several members after a dot", path: "$.meta.['b','a']", want: `{"b":null,"a":true}`},
		{name: "double quotes", path: `$["id"]`, want: `"r1"`},
		{name: "index into a member", path: "$.features[-1]", want: `3`},
		{name: "range of a member", path: "$.features[1:]", want: `[2.50,3]`},
		{name: "wildcard over an object", path: "$.meta.*", want: `[true,null]`},
		{name: "missing member", path: "$.label", err: `no member "label"`},
		{name: "member of an array", path: "$.features.x", err: "the value is an array"},
		{name: "index into an object", path: "$.meta[0]", err: "the value is an object"},
	}
	v, err := parseJSONValue(record)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Select(v)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := string(appendJSON(nil, got)); s != tc.want {
				t.Errorf("got %s, want %s", s, tc.want)
			}
		})
	}
}

func TestParsePathRefuses(t *testing.T) {
	tests := []struct{ name, path, err string }{
		{name: "no root", path: "features", err: "starts with $"},
		{name: "two ranges", path: "$[0:2,246:]", err: "only single range filters"},
		{name: "selection of several in the middle", path: "$['a','b'].c", err: "must end the path"},
		{name: "range in the middle", path: "$[1:].x", err: "must end the path"},
		{name: "nested name in brackets", path: "$['child1','child2.grandchild']", err: "nested names"},
		{name: "unclosed bracket", path: "$[1", err: "not closed"},
		{name: "not an index", path: "$[a]", err: "not an integer index"},
		{name: "trailing dot", path: "$.", err: "a name must follow"},
		{name: "range step", path: "$[0:4:2]", err: "a step in a range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePath(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "Invalid JsonPath: ") {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
	for _, p := range []string{"$.features", "$['id','x']", "$[1].a"} {
		pp, err := ParsePath(p)
		if err != nil {
			t.Fatal(err)
		}
		if pp.ForCSV() == nil {
			t.Errorf("%s: ForCSV accepted a named selection", p)
		}
	}
}

func TestCSVFields(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"a,b,c", []string{"a", "b", "c"}},
		{"", []string{""}},
		{"a,,c,", []string{"a", "", "c", ""}},
		{`"x,y",2`, []string{`"x,y"`, "2"}},
		{`"he said ""no, thanks""",z`, []string{`"he said ""no, thanks"""`, "z"}},
		{`"unterminated,z`, []string{`"unterminated,z`}},
	}
	for _, tc := range tests {
		got := splitCSV([]byte(tc.line), nil)
		var s []string
		for _, f := range got {
			s = append(s, string(f))
		}
		if strings.Join(s, "|") != strings.Join(tc.want, "|") || len(s) != len(tc.want) {
			t.Errorf("splitCSV(%q) = %q, want %q", tc.line, s, tc.want)
		}
	}
	if got := string(appendCSVField(nil, []byte(`{"a":1,"b":"x"}`))); got != `"{""a"":1,""b"":""x""}"` {
		t.Errorf("appendCSVField = %s", got)
	}
	if got := string(appendCSVField(nil, []byte(`0.5`))); got != `0.5` {
		t.Errorf("appendCSVField = %s", got)
	}
}
