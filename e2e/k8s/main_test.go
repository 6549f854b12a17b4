//go:build k8s

package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

func TestMain(m *testing.M) { fixture.Main(leakCheck{m}) }

// leakCheck fails the suite when, after every test's cleanup, a process
// still runs from the Kubernetes binaries or names a cluster's directory,
// or something is still mounted under one: "nothing is left running or
// mounted" is checked, not assumed.
type leakCheck struct{ m *testing.M }

func (l leakCheck) Run() int {
	code := l.m.Run()
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e/k8s: left behind after the suite:\n  %s\n", strings.Join(left, "\n  "))
		code = max(code, 1)
	}
	return code
}

var (
	trackedMu   sync.Mutex
	trackedDirs []string // every cluster's directory, and the fleet's node root
	trackedBin  string   // the Kubernetes binaries' directory
)

func track(dir string) {
	trackedMu.Lock()
	defer trackedMu.Unlock()
	trackedDirs = append(trackedDirs, dir)
}

func trackBin(dir string) {
	trackedMu.Lock()
	defer trackedMu.Unlock()
	trackedBin = dir
}

func leftovers() []string {
	trackedMu.Lock()
	defer trackedMu.Unlock()
	var left []string
	names := append([]string{}, trackedDirs...)
	if trackedBin != "" {
		names = append(names, trackedBin)
	}
	if len(names) == 0 {
		return nil
	}
	mentions := func(s string) bool {
		for _, n := range names {
			if strings.Contains(s, n+"/") {
				return true
			}
		}
		return false
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && mentions(f[4]+"/") {
				left = append(left, "mount "+f[4])
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if mentions(cmd + "/") {
			left = append(left, "process "+filepath.Base(filepath.Dir(p))+": "+cmd)
		}
	}
	return left
}
