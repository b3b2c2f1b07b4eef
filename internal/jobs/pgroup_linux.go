package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processGroupAlive reports whether any process of the group still exists.
func processGroupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// endLeftovers ends what is left of a job's process group after the server died: a job's
// children do not die with the server the way the job's own process does. The group is the
// job's only if its processes carry the job's ARN in their environment (jobEnvVar); a group
// whose ID was reused by someone else is left alone, and the job's own processes are then gone.
// An error means the group could not be identified or ended.
func endLeftovers(pgid int, arn string) error {
	marker := []byte(jobEnvVar + "=" + arn + "\x00")
	for attempt := 0; attempt < 50; attempt++ {
		members, err := groupMembers(pgid)
		if err != nil {
			return err
		}
		if len(members) == 0 {
			return nil
		}
		ours := false
		for _, pid := range members {
			env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			if err != nil {
				if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
					continue // ended meanwhile
				}
				return fmt.Errorf("cannot read the environment of process %d: %w", pid, err)
			}
			if bytes.Contains(append(env, 0), marker) {
				ours = true
			}
		}
		if !ours {
			return nil
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("process group %d survived SIGKILL", pgid)
}

// groupMembers lists the processes whose process group is pgid.
func groupMembers(pgid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name is in parentheses and may contain spaces: fields follow the last ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		// f[0] state, f[1] ppid, f[2] pgrp
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out, nil
}
