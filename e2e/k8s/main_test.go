//go:build k8s

package k8s

import (
	"fmt"
	"os"
	"slices"
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
	for _, dir := range trackedDirs {
		mounts, err := fixture.MountsUnder(dir)
		if err != nil {
			left = append(left, "reading mountinfo: "+err.Error())
		}
		for _, m := range mounts {
			left = append(left, "mount "+m.Mountpoint)
		}
	}
	names := trackedDirs
	if trackedBin != "" {
		names = append(slices.Clip(names), trackedBin)
	}
	seen := map[int]bool{}
	for _, n := range names {
		for _, p := range fixture.ProcessesMentioning(n + "/") {
			if !seen[p.PID] {
				seen[p.PID] = true
				left = append(left, fmt.Sprintf("process %d: %s", p.PID, p.Cmdline))
			}
		}
	}
	return left
}
