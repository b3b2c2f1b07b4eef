package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"
)

// runInit runs inside the new namespaces: it prepares them and execs the job. It
// returns only on failure (or after a probe).
func runInit(spec initSpec, status *os.File) (int, error) {
	syscall.CloseOnExec(int(status.Fd()))

	if err := mountWorkspace(spec.Workspace); err != nil {
		return exitSetupFailed, fmt.Errorf("preparing %s: %w", OptML, err)
	}
	if spec.Loopback {
		if err := loopbackUp(); err != nil {
			return exitSetupFailed, fmt.Errorf("network namespace: bringing loopback up: %w", err)
		}
	}
	if spec.Probe != "" {
		return probeCheck(spec)
	}

	dir := spec.Dir
	if dir == "" {
		dir = OptML
	}
	if err := os.Chdir(dir); err != nil {
		return exitSetupFailed, fmt.Errorf("working directory: %w", err)
	}
	path := spec.Path
	if !strings.ContainsRune(path, '/') {
		// The shim's environment is the job's, so this searches the job's PATH.
		p, err := exec.LookPath(path)
		if err != nil {
			return exitNotFound, fmt.Errorf("exec %q: not found in the job's PATH", path)
		}
		path = p
	}
	err := syscall.Exec(path, spec.Argv, os.Environ())
	if errors.Is(err, syscall.ENOENT) {
		return exitNotFound, fmt.Errorf("exec %s: %w", path, err)
	}
	return exitCannotExec, fmt.Errorf("exec %s: %w", path, err)
}

// mountWorkspace makes the workspace appear at /opt/ml in this (new, private)
// mount namespace.
func mountWorkspace(workspace string) error {
	// Nothing done here may propagate back to the host.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	// Hold the workspace open: its path may lie under /opt, which is about to be
	// covered.
	ws, err := os.Open(workspace)
	if err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	defer ws.Close()
	wsPath := fdPath(ws)

	fi, err := os.Stat(OptML)
	switch {
	case err == nil && fi.IsDir():
		return bind(wsPath, OptML)
	case err == nil:
		return fmt.Errorf("%s exists on this host and is not a directory", OptML)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := shadowOpt(); err != nil {
		return err
	}
	if err := os.Mkdir(OptML, 0o755); err != nil {
		return err
	}
	return bind(wsPath, OptML)
}

// shadowOpt covers /opt with a tmpfs in which /opt/ml can be created, and binds
// every entry of the host's /opt back into it, so that the host is not changed
// and software installed under /opt still works.
func shadowOpt() error {
	const opt = "/opt"
	if err := os.Mkdir(opt, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("this host has no /opt and it cannot be created: %w", err)
	}
	host, err := os.Open(opt)
	if err != nil {
		return err
	}
	defer host.Close()
	names, err := host.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("reading %s: %w", opt, err)
	}
	if err := syscall.Mount("tmpfs", opt, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting a tmpfs on %s: %w", opt, err)
	}
	// The open descriptor still reaches the covered directory.
	hostPath := fdPath(host)
	for _, name := range names {
		src := filepath.Join(hostPath, name)
		dst := filepath.Join(opt, name)
		fi, err := os.Lstat(src)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, dst); err != nil {
				return err
			}
			continue
		case fi.IsDir():
			if err := os.Mkdir(dst, fi.Mode().Perm()); err != nil {
				return err
			}
		default:
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			f.Close()
		}
		if err := bind(src, dst); err != nil {
			return err
		}
	}
	return nil
}

func fdPath(f *os.File) string {
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd())
}

func bind(src, dst string) error {
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting %s on %s: %w", src, dst, err)
	}
	return nil
}

// loopbackUp brings up lo, the only interface of a new network namespace, as
// docker's "none" network does: the job can reach itself and nothing else.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte // the rest of struct ifreq
	}
	copy(ifr.name[:], "lo")
	if err := ioctl(fd, syscall.SIOCGIFFLAGS, unsafe.Pointer(&ifr)); err != nil {
		return fmt.Errorf("reading lo flags: %w", err)
	}
	ifr.flags |= syscall.IFF_UP
	if err := ioctl(fd, syscall.SIOCSIFFLAGS, unsafe.Pointer(&ifr)); err != nil {
		return fmt.Errorf("setting lo up: %w", err)
	}
	return nil
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

// probeCheck verifies, for the runtime's probe, that the namespaces work.
func probeCheck(spec initSpec) (int, error) {
	got, err := os.ReadFile(filepath.Join(OptML, "probe"))
	if err != nil {
		return exitSetupFailed, fmt.Errorf("probe: %w", err)
	}
	if string(got) != spec.Probe {
		return exitSetupFailed, errors.New("probe: /opt/ml does not show the workspace")
	}
	if spec.Loopback {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return exitSetupFailed, fmt.Errorf("probe: loopback: %w", err)
		}
		defer l.Close()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return exitSetupFailed, fmt.Errorf("probe: loopback: %w", err)
		}
		c.Close()
	}
	return 0, nil
}
