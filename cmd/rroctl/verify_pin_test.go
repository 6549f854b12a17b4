package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// goneProcess returns the PID of a process that has exited and been
// reaped.
func goneProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestPinProcess: a pinned process passes stillSame while it lives, and
// fails it once it has exited, whether or not it has been reaped (a
// zombie has no mount table, and its PID is free once reaped).
func TestPinProcess(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	pin, err := pinProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer pin.close()
	if err := pin.stillSame(); err != nil {
		t.Fatalf("live process: %v", err)
	}
	if _, err := readMountinfo(pid); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Wait for the exit without reaping: a zombie.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if err := pin.stillSame(); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("zombie: stillSame = %v, want exited", err)
	}
	cmd.Wait()
	if err := pin.stillSame(); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("reaped: stillSame = %v, want exited", err)
	}
	if _, err := pinProcess(pid); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("pinProcess of a reaped PID = %v, want does not exist", err)
	}
}

// TestVerifyPinned: verify by ID refuses a state whose PID is gone, and a
// container whose PID changes between the runtime's answer and the pin.
func TestVerifyPinned(t *testing.T) {
	isolate(t)
	bundle := filepath.Dir(writeConfig(t, `{"mounts":[]}`))
	gone := goneProcess(t)
	t.Run("state names a gone PID", func(t *testing.T) {
		rt := fakeRuntime(t, "runc version 1.1.5", featuresRRO,
			fmt.Sprintf(`{"id":"c1","pid":%d,"status":"running","bundle":%q}`, gone, bundle))
		stdout, stderr, code := runApp(t, "verify", "--runtime", rt, "c1")
		if code != 2 || !strings.Contains(stderr, fmt.Sprintf("process %d does not exist", gone)) {
			t.Errorf("exit %d, want 2 naming the gone process\n%s%s", code, stdout, stderr)
		}
	})
	t.Run("PID changes between state and pin", func(t *testing.T) {
		// The first state names this process, the second another one.
		dir := t.TempDir()
		counter := filepath.Join(dir, "n")
		rt := filepath.Join(dir, "runtime")
		script := fmt.Sprintf(`#!/bin/sh
n=$(cat %[1]s 2>/dev/null || echo 0); echo $((n+1)) > %[1]s
pid=%[2]d; [ "$n" -ge 1 ] && pid=1
echo "{\"id\":\"c1\",\"pid\":$pid,\"status\":\"running\",\"bundle\":\"%[3]s\"}"
`, counter, os.Getpid(), bundle)
		if err := os.WriteFile(rt, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runApp(t, "verify", "--runtime", rt, "c1")
		if code != 2 || !strings.Contains(stderr, "changed while rroctl looked") {
			t.Errorf("exit %d, want 2: the container changed\n%s%s", code, stdout, stderr)
		}
	})
}
