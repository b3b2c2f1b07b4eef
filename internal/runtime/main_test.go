package runtime

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv selects a helper program when the test binary re-executes itself as
// a job.
const helperEnv = "SLUICE_RUNTIME_TEST_HELPER"

// TestMain lets the test binary stand in for the sluice binary: as the init shim
// (`<test binary> runtime-init <spec>`), as a built-in image
// (`<test binary> algo <name> <mode>`), and as small helper programs.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case InitCommand:
			os.Exit(InitMain(os.Args[2:]))
		case "algo":
			os.Exit(fakeAlgo(os.Args[2:]))
		}
	}
	if name := os.Getenv(helperEnv); name != "" {
		os.Exit(runHelper(name, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeAlgo stands in for `sluice algo`: it reports its arguments and the
// hyperparameters file it finds at the SageMaker path.
func fakeAlgo(args []string) int {
	hp, err := os.ReadFile("/opt/ml/input/config/hyperparameters.json")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("algo %s\n%s", strings.Join(args, " "), hp)
	return 0
}

func runHelper(name string, args []string) int {
	switch name {
	case "cat":
		b, err := os.ReadFile(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Stdout.Write(b)
	case "write":
		if err := os.MkdirAll(filepath.Dir(args[0]), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "exit":
		n, _ := strconv.Atoi(args[0])
		return n
	case "env":
		for _, k := range args {
			v, ok := os.LookupEnv(k)
			if !ok {
				v = "<unset>"
			}
			fmt.Printf("%s=%s\n", k, v)
		}
	case "pwd":
		wd, _ := os.Getwd()
		fmt.Println(wd)
	case "ls":
		entries, err := os.ReadDir(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, e := range entries {
			fmt.Println(e.Name())
		}
	case "sleep":
		time.Sleep(time.Hour)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		os.WriteFile(args[0], []byte("ready"), 0o644)
		time.Sleep(time.Hour)
	case "spawn":
		// Starts a sleeping child in the same process group (or, with "setsid" after
		// "exit", in a session of its own), records its PID, then sleeps too, or exits
		// at once with "exit".
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), helperEnv+"=sleep")
		if len(args) > 2 && args[2] == "setsid" {
			// Leaves the job's process group, as a daemon does.
			child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		}
		if err := child.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.WriteFile(args[0], []byte(strconv.Itoa(child.Process.Pid)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if len(args) > 1 && args[1] == "exit" {
			return 0
		}
		time.Sleep(time.Hour)
	case "server":
		// A stand-in for the sluice server: starts a sleeping job, records its
		// PID and waits to be killed.
		p, err := NewProcess(ProcessConfig{InitPath: os.Args[0]})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		h, err := p.Start(context.Background(), Spec{
			Command:   Command{Path: os.Args[0], Env: []string{helperEnv + "=sleep"}},
			Workspace: args[0],
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.WriteFile(filepath.Join(args[0], "job.pid"), []byte(strconv.Itoa(h.PID())), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		time.Sleep(time.Hour)
	case "dial":
		c, err := net.DialTimeout("tcp", args[0], 2*time.Second)
		if err != nil {
			fmt.Println("dial failed:", err)
			return 3
		}
		c.Close()
		fmt.Println("connected")
	case "loopback":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("listen failed:", err)
			return 3
		}
		defer l.Close()
		c, err := net.DialTimeout("tcp", l.Addr().String(), 2*time.Second)
		if err != nil {
			fmt.Println("dial failed:", err)
			return 3
		}
		c.Close()
		fmt.Println("connected")
	case "listen":
		// A server: greets every connection on 127.0.0.1:<port>, until killed.
		l, err := net.Listen("tcp", "127.0.0.1:"+args[0])
		if err != nil {
			fmt.Println("listen failed:", err)
			return 3
		}
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				return 3
			}
			fmt.Fprintln(c, "hello from pid", os.Getpid())
			c.Close()
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		return 2
	}
	return 0
}
