package jobs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRerunDoesNotWriteIntoTheStoredLog: a job run again after a crash keeps its log's lines, in
// a file of its own, so what it writes next does not change the log already stored by linking.
func TestRerunDoesNotWriteIntoTheStoredLog(t *testing.T) {
	dir := t.TempDir()
	path, stored := filepath.Join(dir, "log"), filepath.Join(dir, "stored.log")
	if err := os.WriteFile(path, []byte("first attempt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(path, stored); err != nil {
		t.Fatal(err)
	}
	if err := unlinkStoredLog(path); err != nil {
		t.Fatal(err)
	}
	sink, err := openLog(path, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	sink.note("attempt 2")
	sink.Close()
	if b, _ := os.ReadFile(stored); string(b) != "first attempt\n" {
		t.Errorf("the stored log changed: %q", b)
	}
	if b, _ := os.ReadFile(path); string(b) != "first attempt\n[sluice] attempt 2\n" {
		t.Errorf("the job's log is %q", b)
	}
}
