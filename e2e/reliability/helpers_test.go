package reliability

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
	"github.com/rro-runc/rro-runc/internal/elfwrap"
	"github.com/rro-runc/rro-runc/internal/specfile"
)

// TestMain first lets a fake runtime, a copy of this test binary made by
// recordingRuntime, become its script.
func TestMain(m *testing.M) {
	elfwrap.Main()
	fixture.Main(m)
}

// Environment variables rro-runc reads, spelled here so that a rename in
// the product breaks the tests loudly rather than making them vacuous.
const (
	envConfig   = "RRO_RUNC_CONFIG"
	envPolicy   = "RRO_RUNC_POLICY"
	envRuntime  = "RRO_RUNC_RUNTIME"
	envCacheDir = "RRO_RUNC_CACHE_DIR"
)

// runTimeout bounds every command: a wrapper that blocks (on a FIFO, a
// lock, a hung runtime) must fail the test, not hang the suite.
const runTimeout = 10 * time.Second

// result is what one command did.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// runCmd runs bin with args in env (the whole environment, not additions:
// the tests control PATH and every RRO_RUNC_* variable).
func runCmd(t testing.TB, env []string, bin string, args ...string) result {
	t.Helper()
	r := fixture.Run(t, env, runTimeout, bin, args...)
	return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code, took: r.Took}
}

// baseEnv is the environment every wrapper run starts from: this
// process's, minus every RRO_RUNC_* variable (a developer's shell must not
// change the outcome), plus extra.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RRO_RUNC_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// fakeFeatures is what the recording runtime answers to `features`: enough
// of runc's output for rro-runc's probe to see rro support.
const fakeFeatures = `{"ociVersionMin":"1.0.0","ociVersionMax":"1.0.2-dev","mountOptions":["bind","rbind","ro","rro","rprivate"]}`

// recordingRuntime writes a fake runc (an ELF executable running a script,
// so that the probe caches its answer as it would runc's) into dir (as dir/runc, so that a
// PATH holding dir finds it) that appends its arguments, space-joined, as
// one line to the returned log, answers `features` and `--version` like a
// runc with rro, and exits 0 for everything else. It is the runtime for
// tests that ask whether rro-runc reached its runtime, not what the
// runtime then did.
func recordingRuntime(t testing.TB, dir string) (script, argvLog string) {
	return writeRecordingRuntime(t, dir, true)
}

// recordingScript is recordingRuntime as a plain `#!/bin/sh` script: the
// probe runs it on every create (it is never cached), and it starts in a
// millisecond, where the ELF copy of this test binary takes tens.
func recordingScript(t testing.TB, dir string) (script, argvLog string) {
	return writeRecordingRuntime(t, dir, false)
}

func writeRecordingRuntime(t testing.TB, dir string, elf bool) (script, argvLog string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script = filepath.Join(dir, "runc")
	argvLog = filepath.Join(dir, "argv.log")
	body := fmt.Sprintf(`#!/bin/sh
echo "$*" >> %s
case "$1" in
features) echo '%s' ;;
--version) echo 'runc version 1.1.5'; echo 'spec: 1.0.2-dev' ;;
esac
exit 0
`, shellQuote(argvLog), fakeFeatures)
	if elf {
		elfwrap.Write(t, script, body)
	} else {
		writeExecutable(t, script, body)
	}
	return script, argvLog
}

// calls returns the lines of a recording runtime's log.
func calls(t testing.TB, argvLog string) []string {
	t.Helper()
	b, err := os.ReadFile(argvLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// reached reports whether the runtime was called with exactly args.
func reached(t testing.TB, argvLog string, args ...string) bool {
	t.Helper()
	want := strings.Join(args, " ")
	for _, c := range calls(t, argvLog) {
		if c == want {
			return true
		}
	}
	return false
}

func writeExecutable(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var seq atomic.Int64

func containerID(prefix string) string {
	return fmt.Sprintf("rro-rel-%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
}

// tempFiles lists the atomic-write temporaries in dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), specfile.TempPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameBytes reports the first difference of two byte strings, for
// messages about files that must not change.
func sameBytes(a, b []byte) (bool, string) {
	if bytes.Equal(a, b) {
		return true, ""
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return false, fmt.Sprintf("%d bytes vs %d bytes, first difference at byte %d", len(a), len(b), i)
}
