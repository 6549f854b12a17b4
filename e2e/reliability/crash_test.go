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
	"sort"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// crashMounts is how many read-only binds the crash test's config.json
// has: a big file makes the write and its fsync long enough for kills to
// land inside them.
const crashMounts = 5000

// TestCrashSafety starts rro-runc rewriting a config.json of 5,000
// read-only binds (about 1 MB) and SIGKILLs it after a random delay,
// hundreds of times, over a fake runtime that exits 0. It asserts, after
// every kill:
//   - config.json is a regular file with mode 0644 whose bytes are exactly
//     the original or exactly the complete rewrite (what an uninterrupted
//     run produced), never empty, partial or missing;
//   - the kill left at most one new temporary file (.rro-runc-tmp-*) in
//     the bundle, and a run that completed left none;
//
// and at the end, with every leftover temporary file still in the bundle,
// that an uninterrupted run produces exactly the rewrite and adds no
// temporary file: leftovers are never read and never get in the way.
// Kills must have landed on both sides of the rename, or the test proves
// nothing and fails.
func TestCrashSafety(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc := fixture.RroRunc(t)
	binDir := t.TempDir()
	recordingRuntime(t, binDir)
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

	// The reference rewrite, and how long an uninterrupted run takes with
	// a warm probe cache (the first run fills it).
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
	window := durations[len(durations)/2] * 3 / 2
	t.Logf("config.json %d bytes, rewrite %d bytes; uninterrupted run median %s; killing at uniform delays in [0, %s)",
		len(original), len(rewritten), durations[len(durations)/2], window)

	const maxKills, budget = 300, 40 * time.Second
	var keptOriginal, keptRewrite, leftovers, kills int
	deadline := time.Now().Add(budget)
	for kills = 0; kills < maxKills && time.Now().Before(deadline); kills++ {
		restore()
		before := len(tempFiles(t, bundle))
		cmd := exec.Command(rroRunc, args...)
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(window))))
		_ = cmd.Process.Signal(syscall.SIGKILL) // may already have exited: fine
		_ = cmd.Wait()

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
		default:
			_, diff := sameBytes(got, rewritten)
			t.Fatalf("kill %d: config.json is neither the original nor the rewrite (vs rewrite: %s)", kills, diff)
		}
		after := len(tempFiles(t, bundle))
		if after > before+1 {
			t.Fatalf("kill %d: %d new temporary files, want at most one", kills, after-before)
		}
		leftovers += after - before
	}
	t.Logf("%d kills: config.json original %d times, rewrite %d times; %d temporary files left by kills", kills, keptOriginal, keptRewrite, leftovers)
	if kills < 200 {
		t.Errorf("only %d kills in %s; want hundreds", kills, budget)
	}
	if keptOriginal == 0 || keptRewrite == 0 {
		t.Errorf("kills never landed before (%d) or after (%d) the rename: the delays do not cover the write", keptOriginal, keptRewrite)
	}

	// The leftovers stay; the next run must not notice them.
	left := tempFiles(t, bundle)
	restore()
	if r := runCmd(t, env, rroRunc, args...); r.code != 0 {
		t.Fatalf("run after the kills: exit %d: %s", r.code, r.stderr)
	}
	if ok, diff := sameBytes(readFile(t, config), rewritten); !ok {
		t.Errorf("run after the kills: config.json is not the rewrite: %s", diff)
	}
	now := tempFiles(t, bundle)
	sort.Strings(left)
	sort.Strings(now)
	if !slices.Equal(left, now) {
		t.Errorf("run after the kills changed the temporary files: before %v, after %v", left, now)
	}
}
