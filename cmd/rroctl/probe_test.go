package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/internal/elfwrap"
	"github.com/rro-runc/rro-runc/probe"
)

// isolate keeps a test away from the machine's rro-runc configuration and
// probe cache: an empty configuration file, a private cache, no
// RRO_RUNC_* overrides.
func isolate(t *testing.T) (configFile string) {
	t.Helper()
	dir := t.TempDir()
	configFile = filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RRO_RUNC_CONFIG", configFile)
	t.Setenv("RRO_RUNC_POLICY", "")
	t.Setenv("RRO_RUNC_RUNTIME", "")
	t.Setenv(probe.EnvCacheDir, filepath.Join(dir, "cache"))
	return configFile
}

// fakeRuntime writes a runtime (an ELF executable, which the probe cache
// vouches for, running a script): --version prints version,
// features prints features (or fails like crun < 1.8.6 when it is ""),
// state prints state (or fails like runc for a missing container when it
// is "").
func fakeRuntime(t *testing.T, version, features, state string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-runtime")
	script := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
	case "$a" in
	--version) echo %q; exit 0 ;;
	features) [ -n %q ] || { echo "unknown command features" >&2; exit 1; }; echo %q; exit 0 ;;
	state) [ -n %q ] || { echo 'time="2026-01-01T00:00:00Z" level=error msg="container does not exist"' >&2; exit 1; }; echo %q; exit 0 ;;
	esac
done
exit 3
`, version, features, features, state, state)
	elfwrap.Write(t, p, script)
	return p
}

// TestMain lets the fake runtimes, copies of this test binary, run their
// scripts.
func TestMain(m *testing.M) {
	elfwrap.Main()
	os.Exit(m.Run())
}

const (
	featuresRRO   = `{"ociVersionMin":"1.0.0","mountOptions":["ro","rro","rbind"]}`
	featuresNoRRO = `{"ociVersionMin":"1.0.0","mountOptions":["ro","rbind"]}`
)

func TestProbe(t *testing.T) {
	isolate(t)
	withFeatures := fakeRuntime(t, "runc version 1.1.5+ds1", featuresRRO, "")
	oldCrun := fakeRuntime(t, "crun version 1.8.1", "", "")
	tooOld := fakeRuntime(t, "runc version 1.0.2", "", "")
	notRRO := fakeRuntime(t, "runc version 1.2.0", featuresNoRRO, "")
	notExecutable := filepath.Join(t.TempDir(), "runc")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"features decides", []string{"--runtime", withFeatures}, 0,
			[]string{"runtime " + withFeatures + " (the runtime rro-runc execs)", "version:           runc 1.1.5+ds1", "features command:  yes", "rro:               yes, decided by features: features lists rro", "policy IfPossible: read-only recursive binds will be made rro"}},
		{"version decides", []string{"--runtime", oldCrun}, 0,
			[]string{"features command:  no", "decided by version: no features command", "crun 1.8.1 >= 1.4 implements rro"}},
		{"several runtimes", []string{"--runtime", withFeatures, "--runtime", oldCrun, "--policy", "Enabled"}, 0,
			[]string{"runtime " + oldCrun + "\n", "policy Enabled: read-only recursive binds will be made rro"}},
		{"Enabled without support", []string{"--runtime", withFeatures, "--runtime", tooOld, "--policy", "Enabled"}, 1,
			[]string{"runc 1.0.2 < 1.1.0", "policy Enabled cannot be honoured"}},
		{"Enabled with features without rro", []string{"--runtime", notRRO, "--policy", "enabled"}, 1,
			[]string{"its features do not list rro", "policy Enabled cannot be honoured"}},
		{"IfPossible without support", []string{"--runtime", tooOld}, 0,
			[]string{"policy IfPossible: read-only recursive binds stay read-only at the top only"}},
		{"Disabled", []string{"--runtime", tooOld, "--policy", "Disabled"}, 0,
			[]string{"policy Disabled: rro-runc leaves every mount as the client wrote it"}},
		{"not executable", []string{"--runtime", notExecutable}, 2,
			[]string{"not an executable file: " + notExecutable}},
		{"missing runtime", []string{"--runtime", "/nonexistent/runc"}, 2,
			[]string{"/nonexistent/runc"}},
		{"bad policy", []string{"--policy", "Maybe"}, 2, []string{`"Maybe"`}},
		{"bad format", []string{"--format", "yaml"}, 2, []string{`--format "yaml"`}},
		{"stray argument", []string{"runc"}, 2, []string{`unexpected argument "runc"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runApp(t, append([]string{"probe"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			for _, want := range tc.contains {
				if !strings.Contains(stdout+stderr, want) {
					t.Errorf("output lacks %q:\n%s%s", want, stdout, stderr)
				}
			}
		})
	}
}

func TestProbeJSONAndSources(t *testing.T) {
	configFile := isolate(t)
	rt := fakeRuntime(t, "runc version 1.1.5", featuresRRO, "")
	if err := os.WriteFile(configFile, []byte("policy = \"Enabled\"\nruntime = \""+rt+"\"\nexclude = [\"/dev\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RRO_RUNC_POLICY", "IfPossible")

	var reports []probeReport
	for range 2 {
		stdout, stderr, code := runApp(t, "probe", "--format", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var rep probeReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, stdout)
		}
		reports = append(reports, rep)
	}
	rep := reports[0]
	if !rep.Kernel.MountSetattr || rep.Kernel.Release == "" || rep.Kernel.Method == "" {
		t.Errorf("kernel = %+v (this suite runs on Linux >= 5.12)", rep.Kernel)
	}
	if len(rep.Runtimes) != 1 {
		t.Fatalf("runtimes = %+v, want the configured one", rep.Runtimes)
	}
	r := rep.Runtimes[0]
	if r.Path != rt || !r.Configured || r.Name != "runc" || r.Version != "1.1.5" || !r.HasFeatures || !r.RRO || r.Method != "features" || !r.Supported {
		t.Errorf("runtime = %+v", r)
	}
	if r.Cache != "fresh" || reports[1].Runtimes[0].Cache != "hit" {
		t.Errorf("cache = %q then %q, want fresh then hit", r.Cache, reports[1].Runtimes[0].Cache)
	}
	st := rep.Settings
	for _, tc := range []struct {
		name string
		got  setting
		want any
		src  string
	}{
		{"file", st.File, configFile, "env"},
		{"policy", st.Policy, "IfPossible", "env"},
		{"runtime", st.Runtime, rt, "file"},
		{"propagation", st.Propagation, "strict", "default"},
		{"allow_annotation_opt_out", st.AllowAnnotationOptOut, false, "default"},
	} {
		if tc.got.Value != tc.want || string(tc.got.Source) != tc.src {
			t.Errorf("%s = %v (%s), want %v (%s)", tc.name, tc.got.Value, tc.got.Source, tc.want, tc.src)
		}
	}
	if fmt.Sprint(st.Exclude.Value) != "[/dev]" || st.Exclude.Source != "file" || !st.FileFound {
		t.Errorf("exclude = %v (%s), file found %v", st.Exclude.Value, st.Exclude.Source, st.FileFound)
	}
	if !rep.OK || !strings.HasPrefix(rep.Verdict, "policy IfPossible") {
		t.Errorf("ok %v, verdict %q", rep.OK, rep.Verdict)
	}

	// A flag beats the environment, as in the wrapper.
	stdout, _, code := runApp(t, "probe", "--format", "json", "--policy", "Disabled")
	var flagged probeReport
	if err := json.Unmarshal([]byte(stdout), &flagged); err != nil || code != 0 ||
		flagged.Settings.Policy.Value != "Disabled" || flagged.Settings.Policy.Source != "flag" {
		t.Errorf("--policy Disabled: exit %d, policy %+v, %v", code, flagged.Settings.Policy, err)
	}
}

func TestProbeBadConfigFile(t *testing.T) {
	configFile := isolate(t)
	if err := os.WriteFile(configFile, []byte("polcy = \"Enabled\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runApp(t, "probe")
	if code != 2 || !strings.Contains(stderr, configFile) || !strings.Contains(stderr, `"polcy"`) {
		t.Errorf("exit %d, stderr %q: want 2 naming the file and the key", code, stderr)
	}
	_, stderr, code = runApp(t, "probe", "--rro-config", "/nonexistent/config.toml")
	if code != 2 || !strings.Contains(stderr, "/nonexistent/config.toml") {
		t.Errorf("missing --rro-config: exit %d, stderr %q", code, stderr)
	}
}
