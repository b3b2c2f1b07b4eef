package jobs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/internal/jobs"
)

// TestReusedWorkspaceStartsClean runs jobs one after another in one slot, so that each reuses
// the workspace of the one before: a job must still see exactly what a fresh workspace holds,
// whatever the job before it left, replaced or linked there.
func TestReusedWorkspaceStartsClean(t *testing.T) {
	h := newHarness(t, nil, func(c *jobs.Config) { c.Slots = 1 })
	host := hostFile(t, "the host's own file\n")
	peek := filepath.Join(t.TempDir(), "peek")

	// The first job litters its workspace: extra files and folders, a config file replaced by
	// a link to a file of the host, a config file of its own, and a second name (a hard link,
	// made through the workspace's host path) for a config file.
	litter := processing("litter", `
set -e
stat -c %i /opt/ml/config
mkdir -p /opt/ml/processing/scratch/deep /opt/ml/model
echo x > /opt/ml/processing/scratch/deep/x
echo y > /opt/ml/output/y
echo z > /opt/ml/config/extra.json
ln -sf `+host+` /opt/ml/config/resourceconfig.json
ln `+filepath.Join(h.cfg.Dir, "processing", "litter", "ml", "config", "processingjobconfig.json")+` `+peek+`
`)
	h.createProcessing(litter)
	if j := h.waitProcessing("litter"); j.ProcessingJobStatus != jobs.StatusCompleted {
		t.Fatalf("litter: %s (%s)", j.ProcessingJobStatus, j.FailureReason)
	}

	look := func(name string) *jobs.ProcessingJobSpec {
		return processing(name, `
set -e
stat -c %i /opt/ml/config
find /opt/ml | sort
grep -q '"ProcessingJobName": "`+name+`"' /opt/ml/config/processingjobconfig.json
grep -q '"current_host": "algo-1"' /opt/ml/config/resourceconfig.json
`)
	}
	fresh := []string{
		"/opt/ml",
		"/opt/ml/config",
		"/opt/ml/config/processingjobconfig.json",
		"/opt/ml/config/resourceconfig.json",
		"/opt/ml/output",
	}
	var inodes []string
	for _, name := range []string{"look-1", "look-2"} {
		h.createProcessing(look(name))
		j := h.waitProcessing(name)
		log := h.log(jobs.KindProcessing, name)
		if j.ProcessingJobStatus != jobs.StatusCompleted {
			t.Fatalf("%s: %s (%s); log:\n%s", name, j.ProcessingJobStatus, j.FailureReason, log)
		}
		lines := jobLines(log)
		if len(lines) < 1 {
			t.Fatalf("%s printed nothing; log:\n%s", name, log)
		}
		inodes = append(inodes, lines[0])
		if got := strings.Join(lines[1:], "\n"); got != strings.Join(fresh, "\n") {
			t.Errorf("%s sees:\n%s\nwant a fresh workspace:\n%s", name, got, strings.Join(fresh, "\n"))
		}
	}
	if b, err := os.ReadFile(host); err != nil || string(b) != "the host's own file\n" {
		t.Errorf("the file a job linked into its workspace = %q, %v; want it untouched", b, err)
	}
	// A config file the first job gave a second name was not reused: the later jobs' configs
	// do not show through that name.
	if b, err := os.ReadFile(peek); err != nil || !strings.Contains(string(b), `"ProcessingJobName": "litter"`) {
		t.Errorf("the first job's hard link shows %q (%v); want the first job's own config", b, err)
	}
	// A workspace the job left alone is reused, not made again.
	if inodes[0] != inodes[1] {
		t.Errorf("/opt/ml/config was inode %s, then %s: the workspace was not reused", inodes[0], inodes[1])
	}

	// Training jobs, of another kind, get a training workspace; the second one reuses the
	// first one's, which it left full.
	h.createTraining(training("train-litter", `set -e
echo m > /opt/ml/model/model.bin
echo d > /opt/ml/output/data/extra.csv
echo c > /opt/ml/code/train.py
mkdir -p /opt/ml/input/data/train && echo x > /opt/ml/input/data/train/x.csv
echo '{"eta":"9"}' > /opt/ml/input/config/hyperparameters.json`))
	if j := h.waitTraining("train-litter"); j.TrainingJobStatus != jobs.StatusCompleted {
		t.Fatalf("training: %s (%s)", j.TrainingJobStatus, j.FailureReason)
	}
	tr := training("train-after", `find /opt/ml | sort; cat /opt/ml/input/config/hyperparameters.json; echo`)
	h.createTraining(tr)
	if j := h.waitTraining("train-after"); j.TrainingJobStatus != jobs.StatusCompleted {
		t.Fatalf("training: %s (%s)", j.TrainingJobStatus, j.FailureReason)
	}
	lines := jobLines(h.log(jobs.KindTraining, "train-after"))
	if hp := lines[len(lines)-1]; hp != "{}" {
		t.Errorf("hyperparameters.json = %q, want {} (the job set none)", hp)
	}
	got := strings.Join(lines[:len(lines)-1], "\n")
	want := strings.Join([]string{
		"/opt/ml", "/opt/ml/code", "/opt/ml/input", "/opt/ml/input/config",
		"/opt/ml/input/config/hyperparameters.json", "/opt/ml/input/config/inputdataconfig.json",
		"/opt/ml/input/config/resourceconfig.json", "/opt/ml/input/config/trainingjobconfig.json",
		"/opt/ml/input/data", "/opt/ml/model", "/opt/ml/output", "/opt/ml/output/data",
	}, "\n")
	if got != want {
		t.Errorf("training job sees:\n%s\nwant:\n%s", got, want)
	}
}

// jobLines returns the lines a job printed, without the runner's notes.
func jobLines(log string) []string {
	var out []string
	for line := range strings.Lines(log) {
		line = strings.TrimRight(line, "\n")
		if line == "" || strings.HasPrefix(line, "[sluice]") {
			continue
		}
		out = append(out, line)
	}
	return out
}
