package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
	"github.com/rro-runc/rro-runc/internal/specfile"
)

// crashMounts is how many read-only binds the crash test's config.json
// has: a big file (about 1 MB) makes the write long enough for kills to
// land inside it.
const crashMounts = 5000

// Phases a kill can land in, as seen in the stopped process.
const (
	phaseBefore = "before the write"        // no new file yet
	phaseDuring = "during the write"        // the new file is open, nameless
	phaseLink   = "between link and rename" // the complete new file has its temporary name
	phaseAfter  = "after the rename"        // config.json is the rewrite, or the runtime runs
)

// TestCrashSafety starts rro-runc rewriting a config.json of 5,000
// read-only binds (about 1 MB), over a fake runtime script that exits 0, and
// kills it hundreds of times at delays spread over the whole run: first
// uniformly over 1.5 times an uninterrupted run, then around the delays
// at which the first pass saw the write under way (each jittered by a
// tenth of a run), so that kills land before, during and after the
// write. Each kill is a SIGSTOP, a look at the stopped process
// (its open files and the bundle) to tell which phase it is in, then a
// SIGKILL. It asserts, after every kill:
//   - config.json is a regular file with mode 0644 whose bytes are exactly
//     the original or exactly the complete rewrite (what an uninterrupted
//     run produced), never empty, partial or missing;
//   - no temporary file (.rro-runc-tmp-*) is in the bundle, except one
//     left by a kill that landed between the link of the complete new file
//     and its rename (two consecutive system calls), and that one is gone
//     once a later run has reached its write;
//
// that kills landed in each of before, during and after the write, and
// at the end, after an uninterrupted run, that the bundle holds no
// temporary file and config.json is exactly the rewrite.
func TestCrashSafety(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc := fixture.RroRunc(t)
	binDir := t.TempDir()
	// A script: quick to start, so the runs are mostly rro-runc's own
	// work; it is probed on every run (scripts are never cached), before
	// the write.
	recordingScript(t, binDir)
	// An empty configuration file: the defaults, whatever /etc holds.
	cfgPath := filepath.Join(t.TempDir(), "rro-runc.toml")
	if err := os.WriteFile(cfgPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := baseEnv("PATH="+binDir+":/usr/bin:/bin", envCacheDir+"="+t.TempDir(), envConfig+"="+cfgPath)

	mounts := make([]specs.Mount, crashMounts)
	for i := range mounts {
		mounts[i] = specs.Mount{Destination: fmt.Sprintf("/vol/%d", i), Type: "bind", Source: "/tmp", Options: []string{"rbind", "ro", "rprivate"}}
	}
	spec := fixture.Spec("/nonexistent-rootfs", mounts, "/bin/true")
	original, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	original = append(original, '\n')

	bundle := filepath.Join(t.TempDir(), "bundle")
	if err := os.Mkdir(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(bundle, "config.json")
	restore := func() {
		t.Helper()
		if err := os.WriteFile(config, original, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"create", "--bundle", bundle, "crash"}

	// The reference rewrite, and how long an uninterrupted run takes.
	var durations []time.Duration
	var rewritten []byte
	for i := range 6 {
		restore()
		r := runCmd(t, env, rroRunc, args...)
		if r.code != 0 {
			t.Fatalf("uninterrupted run: exit %d: %s", r.code, r.stderr)
		}
		got := readFile(t, config)
		if i == 0 {
			rewritten = got
			if bytes.Equal(got, original) || !bytes.Contains(got, []byte(`"rro"`)) {
				t.Fatalf("uninterrupted run did not rewrite config.json")
			}
			continue
		}
		if !bytes.Equal(got, rewritten) {
			t.Fatalf("two uninterrupted runs produced different rewrites")
		}
		durations = append(durations, r.took)
	}
	if left := tempFiles(t, bundle); len(left) != 0 {
		t.Fatalf("uninterrupted runs left temporary files: %v", left)
	}
	slices.Sort(durations)
	median := durations[len(durations)/2]
	t.Logf("config.json %d bytes, rewrite %d bytes; uninterrupted run median %s", len(original), len(rewritten), median)

	phases := map[string]int{}
	var writeSeen []time.Duration // delays whose kill found the write under way
	var keptOriginal, keptRewrite, kills int
	// linkLeft are temporary files that kills between link and rename
	// left, by name: the only ones allowed, until a later run removes them.
	linkLeft := map[string]bool{}
	kill := func(delay time.Duration) {
		t.Helper()
		restore()
		before := tempFiles(t, bundle)
		cmd := exec.Command(rroRunc, args...)
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		phase := stopAndLook(t, cmd.Process.Pid, bundle, rroRunc, before)
		_ = cmd.Process.Signal(syscall.SIGKILL) // may already have exited: fine
		_ = cmd.Wait()
		kills++

		fi, err := os.Lstat(config)
		if err != nil {
			t.Fatalf("kill %d: config.json: %v", kills, err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
			t.Fatalf("kill %d: config.json is %s, want a regular file with mode 0644", kills, fi.Mode())
		}
		got := readFile(t, config)
		switch {
		case bytes.Equal(got, original):
			keptOriginal++
		case bytes.Equal(got, rewritten):
			keptRewrite++
			if phase == phaseBefore {
				phase = phaseAfter // stopped after the rename, before the exec
			}
		default:
			_, diff := sameBytes(got, rewritten)
			t.Fatalf("kill %d (%s): config.json is neither the original nor the rewrite (vs rewrite: %s)", kills, phase, diff)
		}
		phases[phase]++
		if phase == phaseDuring || phase == phaseLink {
			writeSeen = append(writeSeen, delay)
		}
		now := tempFiles(t, bundle)
		for _, name := range now {
			if slices.Contains(before, name) {
				continue
			}
			if phase != phaseLink {
				t.Fatalf("kill %d (%s) left the temporary file %s", kills, phase, name)
			}
			linkLeft[name] = true
		}
		for name := range linkLeft {
			if !slices.Contains(now, name) {
				delete(linkLeft, name)
			}
		}
		if len(now) != len(linkLeft) {
			t.Fatalf("kill %d: temporary files %v, want only those of kills between link and rename %v", kills, now, linkLeft)
		}
	}

	// The time allowed grows with the run: on a loaded machine a run
	// takes ten times what it takes on a quiet one, and hundreds of kills
	// must still fit.
	const uniformKills, focusedKills = 150, 150
	budget := min(max(90*time.Second, 300*median), 5*time.Minute)
	deadline := time.Now().Add(budget)
	window := median * 3 / 2
	for range uniformKills {
		if time.Now().After(deadline) {
			break
		}
		kill(time.Duration(rand.Int64N(int64(window))))
	}
	// Then around the delays at which the write was seen, each jittered
	// by a tenth of a run (the machine's load moves the write): most kills
	// of the first pass land in the runtime or before the file is read.
	jitter := median / 10
	for range focusedKills {
		if time.Now().After(deadline) {
			break
		}
		if len(writeSeen) == 0 {
			kill(time.Duration(rand.Int64N(int64(window))))
			continue
		}
		at := writeSeen[rand.IntN(len(writeSeen))] - jitter + time.Duration(rand.Int64N(int64(2*jitter)+1))
		kill(max(0, at))
	}
	t.Logf("%d kills (uniform in [0, %s), then within %s of where the write was seen): %s %d, %s %d, %s %d, %s %d; config.json original %d times, rewrite %d times",
		kills, window, jitter, phaseBefore, phases[phaseBefore], phaseDuring, phases[phaseDuring], phaseLink, phases[phaseLink], phaseAfter, phases[phaseAfter], keptOriginal, keptRewrite)
	if kills < 200 {
		t.Errorf("only %d kills in %s; want hundreds", kills, budget)
	}
	for _, ph := range []string{phaseBefore, phaseDuring, phaseAfter} {
		if phases[ph] < 5 {
			t.Errorf("only %d kills landed %s: the delays do not cover the write", phases[ph], ph)
		}
	}

	// One uninterrupted run: the rewrite, and no temporary file at all.
	restore()
	if r := runCmd(t, env, rroRunc, args...); r.code != 0 {
		t.Fatalf("run after the kills: exit %d: %s", r.code, r.stderr)
	}
	if ok, diff := sameBytes(readFile(t, config), rewritten); !ok {
		t.Errorf("run after the kills: config.json is not the rewrite: %s", diff)
	}
	if left := tempFiles(t, bundle); len(left) != 0 {
		t.Errorf("temporary files left after the kills and a complete run: %v", left)
	}
}

// stopAndLook stops the process pid with SIGSTOP, waits until it is
// stopped (or gone), and says which phase of the rewrite it is in: after,
// when it is gone or has exec'd the runtime; during, when it holds the
// new file open (nameless: "BUNDLE/#INODE (deleted)", or a named
// temporary file on a filesystem without O_TMPFILE); between link and
// rename, when a new temporary name is in the bundle; else before (which
// the caller turns into after when config.json is already the rewrite).
func stopAndLook(t *testing.T, pid int, bundle, rroRunc string, tempsBefore []string) string {
	t.Helper()
	if syscall.Kill(pid, syscall.SIGSTOP) != nil {
		return phaseAfter
	}
	proc := fmt.Sprintf("/proc/%d", pid)
	for deadline := time.Now().Add(5 * time.Second); ; {
		stat, err := os.ReadFile(proc + "/stat")
		if err != nil {
			return phaseAfter
		}
		_, rest, _ := bytes.Cut(stat, []byte(") "))
		if len(rest) > 0 && (rest[0] == 'T' || rest[0] == 'Z' || rest[0] == 'X') {
			if rest[0] != 'T' {
				return phaseAfter
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not stop: %s", pid, stat)
		}
		time.Sleep(100 * time.Microsecond)
	}
	if exe, err := os.Readlink(proc + "/exe"); err != nil || exe != rroRunc {
		return phaseAfter // exec'd the runtime
	}
	for _, name := range tempFiles(t, bundle) {
		if !slices.Contains(tempsBefore, name) {
			return phaseLink
		}
	}
	fds, _ := os.ReadDir(proc + "/fd")
	for _, fd := range fds {
		target, err := os.Readlink(proc + "/fd/" + fd.Name())
		if err != nil {
			continue
		}
		if strings.HasPrefix(target, bundle+"/#") || strings.HasPrefix(target, filepath.Join(bundle, specfile.TempPrefix)) {
			return phaseDuring
		}
	}
	return phaseBefore
}
