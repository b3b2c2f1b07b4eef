package pipeline

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestFixtures parses every testdata/*.good.json (which must be accepted, and whose graph
// rendering must match *.graph.golden) and every *.bad.json (which must be refused with each
// line of its *.bad.err in the message).
func TestFixtures(t *testing.T) {
	goods, err := filepath.Glob("testdata/*.good.json")
	if err != nil {
		t.Fatal(err)
	}
	bads, err := filepath.Glob("testdata/*.bad.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(goods) < 3 || len(bads) < 20 {
		t.Fatalf("found %d good and %d bad fixtures; testdata/ is incomplete", len(goods), len(bads))
	}
	for _, path := range goods {
		name := strings.TrimSuffix(filepath.Base(path), ".good.json")
		t.Run("good/"+name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			g := d.Graph()
			if g == nil {
				t.Fatal("valid definition has no graph")
			}
			got := g.Text() + "\n" + g.DOT(name)
			golden := strings.TrimSuffix(path, ".good.json") + ".graph.golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("graph rendering differs from %s (run go test -update after checking):\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
	for _, path := range bads {
		name := strings.TrimSuffix(filepath.Base(path), ".bad.json")
		t.Run("bad/"+name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wantData, err := os.ReadFile(strings.TrimSuffix(path, ".json") + ".err")
			if err != nil {
				t.Fatalf("every bad fixture needs a .bad.err with the expected message: %v", err)
			}
			d, err := Parse(data)
			if err == nil {
				t.Fatal("Parse accepted a bad definition")
			}
			if d != nil {
				t.Error("Parse returned a definition along with an error")
			}
			if !errors.Is(err, ErrInvalidDefinition) {
				t.Errorf("error %v does not match ErrInvalidDefinition", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("error %v holds no *ValidationError", err)
			}
			for want := range strings.SplitSeq(strings.TrimSpace(string(wantData)), "\n") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q\nerror: %v", want, err)
				}
			}
		})
	}
}

// FuzzParse checks that no input makes Parse panic, and that whatever it accepts has a graph
// whose order holds every step once. Seeds are the fixtures.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.json")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			if d != nil {
				t.Fatal("definition returned with an error")
			}
			if !errors.Is(err, ErrInvalidDefinition) {
				t.Fatalf("error %v does not match ErrInvalidDefinition", err)
			}
			return
		}
		if got, want := len(d.Graph().Order()), len(d.AllSteps()); got != want {
			t.Fatalf("order has %d steps, definition %d", got, want)
		}
		_ = d.Graph().Text()
	})
}
