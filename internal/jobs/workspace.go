package jobs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
)

// A finished job's workspace is not deleted but cleaned and kept for the next job of the same
// kind: its folders and the runner's own config files stay, and the next job overwrites the
// files in place. A busy server thereby neither creates nor deletes the workspace skeleton for
// every job, which matters on filesystems where creating files gets slower the more were deleted
// lately (ext4 without a journal skips recently freed inodes one by one).
//
// Only what the runner itself wrote is kept, and only when it is still the same regular file
// with no other name: anything the job created, replaced, linked or left behind is removed.
// Workspaces are reused only when jobs run in mount namespaces of their own, whose every process
// the runtime kills when the job ends; otherwise a process the job left behind could reach the
// next job's workspace by its path.

// spareDir is the folder, under the runner's folder, that holds the kept workspaces. It cannot
// collide with a kind's folder, since kinds are plain words.
const spareDir = ".spare"

// spares holds cleaned workspaces by kind.
type spares struct {
	dir string
	max int // per kind

	mu   sync.Mutex
	free map[Kind][]spare
	seq  int
}

// spare is a cleaned workspace: its folder and the config files left in it.
type spare struct {
	dir   string
	files []string // slash paths below the workspace
}

// newSpares empties what a previous run kept (it may be half cleaned) and returns an empty pool.
func newSpares(jobsDir string, max int) (*spares, error) {
	dir := filepath.Join(jobsDir, spareDir)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("jobs: clearing kept workspaces: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return &spares{dir: dir, max: max, free: map[Kind][]spare{}}, nil
}

// take moves a kept workspace of kind to ml, which must not exist, and returns the files left
// in it; ok is false when there is none to reuse.
func (s *spares) take(kind Kind, ml string) (files []string, ok bool) {
	s.mu.Lock()
	n := len(s.free[kind])
	if n == 0 {
		s.mu.Unlock()
		return nil, false
	}
	sp := s.free[kind][n-1]
	s.free[kind] = s.free[kind][:n-1]
	s.mu.Unlock()
	if err := os.Rename(sp.dir, ml); err != nil {
		_ = os.RemoveAll(sp.dir)
		return nil, false
	}
	return sp.files, true
}

// keep cleans the workspace ml down to the files in written (still the same files) and the
// folders in dirs, and keeps it for the next job of kind. When the pool is full or the
// workspace cannot be cleaned, it is removed instead.
func (s *spares) keep(kind Kind, ml string, written map[string]os.FileInfo, dirs []string) error {
	s.mu.Lock()
	full := len(s.free[kind]) >= s.max
	s.seq++
	dst := filepath.Join(s.dir, strconv.Itoa(s.seq))
	s.mu.Unlock()
	if full {
		return os.RemoveAll(ml)
	}
	keepDirs := map[string]bool{}
	for _, d := range dirs {
		for ; d != "." && d != "/"; d = path.Dir(d) {
			keepDirs[d] = true
		}
	}
	for f := range written {
		for d := path.Dir(f); d != "." && d != "/"; d = path.Dir(d) {
			keepDirs[d] = true
		}
	}
	var files []string
	if err := clean(ml, "", written, keepDirs, &files); err != nil {
		return errors.Join(err, os.RemoveAll(ml))
	}
	if err := os.Rename(ml, dst); err != nil {
		return errors.Join(err, os.RemoveAll(ml))
	}
	s.mu.Lock()
	if len(s.free[kind]) >= s.max {
		// Other jobs of the kind ended meanwhile and filled the pool.
		s.mu.Unlock()
		return os.RemoveAll(dst)
	}
	s.free[kind] = append(s.free[kind], spare{dir: dst, files: files})
	s.mu.Unlock()
	return nil
}

// clean removes everything below root/rel but the files of written that are unchanged and the
// folders of keepDirs, and lists the files it kept.
func clean(root, rel string, written map[string]os.FileInfo, keepDirs map[string]bool, kept *[]string) error {
	entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	for _, e := range entries {
		r := path.Join(rel, e.Name())
		p := filepath.Join(root, filepath.FromSlash(r))
		switch t := e.Type(); {
		case t.IsDir() && keepDirs[r]:
			if err := clean(root, r, written, keepDirs, kept); err != nil {
				return err
			}
			continue
		case t.IsRegular() && written[r] != nil:
			// A file the job linked elsewhere is not kept: the next job's config would show
			// through the other name.
			if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && os.SameFile(fi, written[r]) && singleLink(fi) {
				*kept = append(*kept, r)
				continue
			}
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// prepareWorkspace gives the execution an empty /opt/ml folder: a kept one when there is one,
// else a new one.
func (x *execution) prepareWorkspace() error {
	if err := os.RemoveAll(x.ml); err != nil {
		return fmt.Errorf("clear the workspace: %w", err)
	}
	if err := os.MkdirAll(x.dir, 0o755); err != nil {
		return fmt.Errorf("create the workspace: %w", err)
	}
	x.written = map[string]os.FileInfo{}
	if files, ok := x.r.spares.take(x.kind, x.ml); ok {
		x.stale = map[string]bool{}
		for _, f := range files {
			x.stale[f] = true
		}
		return nil
	}
	if err := os.Mkdir(x.ml, 0o755); err != nil {
		return fmt.Errorf("create the workspace: %w", err)
	}
	return nil
}

// mkdirs creates folders of the workspace skeleton (slash paths), which a kept workspace keeps.
func (x *execution) mkdirs(rels ...string) error {
	for _, rel := range rels {
		if err := os.MkdirAll(filepath.Join(x.ml, filepath.FromSlash(rel)), 0o755); err != nil {
			return err
		}
		x.dirs = append(x.dirs, rel)
	}
	return nil
}

// writeFile writes one of the runner's files into the workspace (rel is a slash path), over
// the one a kept workspace holds.
func (x *execution) writeFile(rel string, b []byte) error {
	p := filepath.Join(x.ml, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	// Written over in place and cut to length afterwards, rather than truncated first: the file
	// keeps its blocks, and ext4 does not flush a file truncated and rewritten when it is closed.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	terr := f.Truncate(int64(len(b)))
	merr := f.Chmod(0o644) // whatever the job before made of it
	fi, serr := f.Stat()
	if err := errors.Join(werr, terr, merr, serr, f.Close()); err != nil {
		return err
	}
	x.written[rel] = fi
	delete(x.stale, rel)
	return nil
}

// settle removes the files a kept workspace held that this job did not write again, before
// the job sees the workspace.
func (x *execution) settle() error {
	for rel := range x.stale {
		if err := os.Remove(filepath.Join(x.ml, filepath.FromSlash(rel))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("clear the workspace: %w", err)
		}
	}
	x.stale = nil
	return nil
}

// releaseWorkspace cleans the finished job's workspace for the next job, or removes it.
func (x *execution) releaseWorkspace() error {
	if x.written == nil {
		// The job ended before its workspace was made.
		return os.RemoveAll(x.ml)
	}
	if !x.r.cfg.Process.Isolation(x.runCtx).Mounts {
		// Without a mount namespace of its own, a process the job left behind could still
		// reach the workspace by its path: not a workspace to hand to another job.
		return os.RemoveAll(x.ml)
	}
	return x.r.spares.keep(x.kind, x.ml, x.written, x.dirs)
}
