package server

import (
	"fmt"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	cases := []struct {
		name, in, want string
		bad            bool
	}{
		{"plain words", "/usr/bin/python3 /srv/prep.py", "[/usr/bin/python3 /srv/prep.py]", false},
		{"extra spaces", "  /bin/sh   -c  ", "[/bin/sh -c]", false},
		{"double quotes", `python3 "/srv/my app/main.py" --x`, "[python3 /srv/my app/main.py --x]", false},
		{"single quotes keep backslashes", `sh -c 'echo \n'`, `[sh -c echo \n]`, false},
		{"escaped space", `/opt/my\ tool/run train`, "[/opt/my tool/run train]", false},
		{"empty quotes are a word", `run ""`, "[run ]", false},
		{"unterminated quote", `python3 "main.py`, "", true},
		{"dangling escape", `run \`, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := splitCommand(c.in)
			if (err != nil) != c.bad {
				t.Fatalf("error %v, want error %v", err, c.bad)
			}
			if !c.bad && fmt.Sprint(got) != c.want {
				t.Errorf("got %q, want %s", got, c.want)
			}
		})
	}
}

func TestImageMappingsPutSpecificPatternsFirst(t *testing.T) {
	m, err := imageMappings(map[string]string{"registry.example/*": "/bin/generic", "registry.example/team/prep:*": "/bin/prep --fast"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[0].Image != "registry.example/team/prep:*" || fmt.Sprint(m[0].Entrypoint) != "[/bin/prep --fast]" {
		t.Errorf("mappings %+v", m)
	}
	if _, err := imageMappings(map[string]string{"x": "   "}); err == nil {
		t.Error("an empty command was accepted")
	}
}
