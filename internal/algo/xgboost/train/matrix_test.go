package train

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name        string
		in          string
		weights     bool
		wantRows    [][]float32
		wantLabels  []float32
		wantWeights []float32
		wantErr     string
	}{
		{
			name:       "label first, no header, blank lines and CRLF",
			in:         "1,0.5,2\r\n\n0,1.5,-3e2\n",
			wantRows:   [][]float32{{0.5, 2}, {1.5, -300}},
			wantLabels: []float32{1, 0},
		},
		{
			name:       "empty cells and nan are missing",
			in:         "3,,1\n4,nan,\n",
			wantRows:   [][]float32{{nan, 1}, {nan, nan}},
			wantLabels: []float32{3, 4},
		},
		{
			name:        "weight column",
			in:          "1,0.5,7\n0,2,8\n",
			weights:     true,
			wantRows:    [][]float32{{7}, {8}},
			wantLabels:  []float32{1, 0},
			wantWeights: []float32{0.5, 2},
		},
		{name: "ragged rows", in: "1,2,3\n4,5\n", wantErr: "line 2: row has 2 columns, earlier rows have 3 (ragged CSV)"},
		{name: "non-numeric feature", in: "1,2,3\n4,abc,6\n", wantErr: `line 2 column 2: "abc" is not a number`},
		{name: "header row", in: "rings,length\n1,2\n", wantErr: `line 1 column 1: label "rings" is not a number`},
		{name: "missing label", in: ",2\n", wantErr: `label "" is not a number`},
		{name: "label only", in: "1\n", wantErr: "need the label and at least one feature"},
		{name: "empty", in: "\n", wantErr: "no rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ReadCSV(strings.NewReader(tt.in), tt.weights)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkMatrix(t, m, tt.wantRows, tt.wantLabels, tt.wantWeights)
		})
	}
}

func TestReadLibSVM(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name        string
		in          string
		wantRows    [][]float32
		wantLabels  []float32
		wantWeights []float32
		wantErr     string
	}{
		{
			name:       "zero-based indices, absent entries missing, comments, qid",
			in:         "1 0:0.5 2:3 # first\n0 qid:4 1:-1\n",
			wantRows:   [][]float32{{0.5, nan, 3}, {nan, -1, nan}},
			wantLabels: []float32{1, 0},
		},
		{
			name:        "label:weight",
			in:          "1:2 0:1\n0:0.5 0:2\n",
			wantRows:    [][]float32{{1}, {2}},
			wantLabels:  []float32{1, 0},
			wantWeights: []float32{2, 0.5},
		},
		{name: "not index:value", in: "1 0:1 7\n", wantErr: `line 1: entry "7" is not index:value`},
		{name: "bad value", in: "1 0:x\n", wantErr: `value "x" of feature 0 is not a number`},
		{name: "bad label", in: "yes 0:1\n", wantErr: `label "yes" is not a number`},
		{name: "duplicate feature", in: "1 0:1 0:2\n", wantErr: "feature 0 appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ReadLibSVM(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkMatrix(t, m, tt.wantRows, tt.wantLabels, tt.wantWeights)
		})
	}
}

func checkMatrix(t *testing.T, m *Matrix, rows [][]float32, labels, weights []float32) {
	t.Helper()
	if m.Rows != len(rows) || m.Cols != len(rows[0]) {
		t.Fatalf("shape %d×%d, want %d×%d", m.Rows, m.Cols, len(rows), len(rows[0]))
	}
	same := func(a, b float32) bool { return a == b || (isNaN(a) && isNaN(b)) }
	for i, r := range rows {
		for j, v := range r {
			if !same(m.At(i, j), v) {
				t.Errorf("cell (%d,%d) = %v, want %v", i, j, m.At(i, j), v)
			}
		}
		if m.Labels[i] != labels[i] {
			t.Errorf("label %d = %v, want %v", i, m.Labels[i], labels[i])
		}
	}
	if weights == nil && m.Weights != nil {
		t.Errorf("weights = %v, want none", m.Weights)
	}
	for i, w := range weights {
		if m.Weights[i] != w {
			t.Errorf("weight %d = %v, want %v", i, m.Weights[i], w)
		}
	}
}

func TestReadDirConcatenatesFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "b.csv"), []byte("2,20\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "a.csv"), []byte("1,10\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("garbage\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "part"), 0o755)
	os.WriteFile(filepath.Join(dir, "part", "c.csv"), []byte("3,30\n"), 0o644)
	m, err := ReadDir(dir, ContentTypeCSV, false)
	if err != nil {
		t.Fatal(err)
	}
	checkMatrix(t, m, [][]float32{{10}, {20}, {30}}, []float32{1, 2, 3}, nil)

	os.WriteFile(filepath.Join(dir, "d.csv"), []byte("4,40,400\n"), 0o644)
	if _, err := ReadDir(dir, ContentTypeCSV, false); err == nil || !strings.Contains(err.Error(), "d.csv line 1") {
		t.Errorf("ragged file: err = %v, want it to name d.csv line 1", err)
	}
}

func TestParseContentType(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"", ContentTypeCSV, ""},
		{"text/csv", ContentTypeCSV, ""},
		{"text/csv;label_size=1", ContentTypeCSV, ""},
		{"text/csv; label_size=1", ContentTypeCSV, ""},
		{"csv", ContentTypeCSV, ""},
		{"text/libsvm", ContentTypeLibSVM, ""},
		{"libsvm", ContentTypeLibSVM, ""},
		{"text/csv;label_size=2", "", "only label_size=1"},
		{"application/x-recordio-protobuf", "", "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseContentType(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
