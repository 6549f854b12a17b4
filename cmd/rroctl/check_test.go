package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	runcSpec = "../../testdata/configs/runc-spec.json"
	compact  = "../../testdata/configs/compact-no-annotations.json"
)

// writeConfig writes body as dir/config.json and returns dir, a bundle.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckTable(t *testing.T) {
	isolate(t)
	stdout, stderr, code := runApp(t, "check", "--assume-supported", compact)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := compact + `
policy IfPossible (default); rro support: yes (assumed supported (--assume-supported))
DESTINATION  SOURCE      OPTIONS NOW  OPTIONS AFTER  DECISION   REASON
/proc        proc        -            =              unchanged  not a bind mount
/vol         /srv/vol    rbind,ro     rbind,ro,rro   rewrite    added rro
/etc/hosts   /run/hosts  bind,ro      =              unchanged  non-recursive bind: no submounts are copied in
result: ok, rro-runc makes /vol recursively read-only
`
	if stdout != want {
		t.Errorf("output:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestCheckExitStatus(t *testing.T) {
	isolate(t)
	tooOld := fakeRuntime(t, "runc version 1.0.2", "", "")
	plain := writeConfig(t, `{"mounts":[{"destination":"/vol","source":"/srv","options":["rbind","ro"]}]}`)
	shared := writeConfig(t, `{"mounts":[{"destination":"/vol","source":"/srv","options":["rbind","ro","rshared"]}]}`)
	done := writeConfig(t, `{"mounts":[{"destination":"/vol","source":"/srv","options":["rbind","ro","rro"]}]}`)
	excluded := writeConfig(t, `{"mounts":[{"destination":"/dev/shm","source":"/dev/shm","options":["rbind","ro"]}]}`)
	optOut := writeConfig(t, `{"annotations":{"org.rro-runc.policy":"Disabled"},"mounts":[{"destination":"/vol","source":"/srv","options":["rbind","ro"]}]}`)
	notJSON := writeConfig(t, `{"mounts":[`)
	badMounts := writeConfig(t, `{"mounts":{}}`)
	link := filepath.Join(t.TempDir(), "config.json")
	if err := os.Symlink(filepath.Join(plain, "config.json"), link); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"rewritten", []string{"--assume-supported", plain}, 0, []string{"rbind,ro,rro   rewrite   added rro"}},
		{"already rro", []string{"--policy", "Disabled", done}, 0, []string{"already rro", "result: ok, no read-only recursive bind needs rro"}},
		{"policy Disabled", []string{"--policy", "disabled", plain}, 1,
			[]string{"unchanged (!)", "result: NOT PROTECTED: /vol would stay read-only at the top only"}},
		{"IfPossible without support", []string{"--runtime", tooOld, plain}, 1,
			[]string{"rro support: no", "runc 1.0.2 < 1.1.0", "NOT PROTECTED: /vol"}},
		{"Enabled without support", []string{"--runtime", tooOld, "--policy", "Enabled", plain}, 1,
			[]string{"refuse (!)", "result: REFUSED", "runc 1.0.2 < 1.1.0"}},
		{"Enabled with shared propagation", []string{"--assume-supported", "--policy", "Enabled", shared}, 1,
			[]string{"result: REFUSED", "has propagation rshared"}},
		{"IfPossible with shared propagation", []string{"--assume-supported", shared}, 0, []string{"rbind,ro,rshared,rro"}},
		{"excluded", []string{"--policy", "Enabled", excluded}, 0, []string{"excluded by /dev"}},
		{"annotation opt-out refused", []string{"--assume-supported", optOut}, 1,
			[]string{"REFUSED", "allow_annotation_opt_out is false"}},
		{"several, one finding", []string{"--policy", "Disabled", done, plain}, 1,
			[]string{"1 of 2 configs"}},
		{"flag after a config", []string{done, "--policy", "Disabled"}, 2,
			[]string{`flag "--policy" after`}},
		{"not JSON", []string{notJSON}, 2, []string{notJSON, "not valid JSON"}},
		{"mounts not an array", []string{badMounts}, 2, []string{"mounts is an object"}},
		{"input error beats finding", []string{"--policy", "Disabled", plain, "/nonexistent/config.json"}, 2,
			[]string{"/nonexistent/config.json", "no such file"}},
		{"symlink refused like the wrapper", []string{link}, 2, []string{"symlink"}},
		{"no argument", nil, 2, []string{"name at least one"}},
		{"runtime missing", []string{"--runtime", "/nonexistent/runc", plain}, 2, []string{"/nonexistent/runc", "--assume-supported"}},
		{"no probe without candidates", []string{"--runtime", "/nonexistent/runc", done}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runApp(t, append([]string{"check"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, stdout, stderr)
			}
			for _, want := range tc.contains {
				if !strings.Contains(stdout+stderr, want) {
					t.Errorf("output lacks %q:\n%s%s", want, stdout, stderr)
				}
			}
		})
	}
}

func TestCheckChangesNothing(t *testing.T) {
	isolate(t)
	dir := writeConfig(t, `{"mounts":[{"destination":"/vol","source":"/srv","options":["rbind","ro"]}]}`)
	p := filepath.Join(dir, "config.json")
	before, _ := os.Stat(p)
	if _, stderr, code := runApp(t, "check", "--assume-supported", "--policy", "Enabled", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	after, _ := os.Stat(p)
	entries, _ := os.ReadDir(dir)
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) || len(entries) != 1 {
		t.Errorf("check touched the bundle: %v", entries)
	}
}

func TestCheckJSON(t *testing.T) {
	isolate(t)
	stdout, _, code := runApp(t, "check", "--format", "json", "--policy", "Disabled", runcSpec, "/nonexistent")
	if code != 2 {
		t.Errorf("exit %d, want 2 for the missing file", code)
	}
	// Decoded as a machine would: actions are names.
	var rep struct {
		OK      bool
		Configs []struct {
			Path, Policy, PolicyFrom, Error string
			Support                         *supportReport
			Findings                        []string
			Mounts                          []struct {
				Destination, Action, Reason string
				Candidate, Finding          bool
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if rep.OK || len(rep.Configs) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	spec, missing := rep.Configs[0], rep.Configs[1]
	if spec.Policy != "Disabled" || spec.PolicyFrom != "flag" || spec.Support != nil || spec.Error != "" {
		t.Errorf("config: %+v", spec)
	}
	wantFindings := []string{"/ctr", "/cri", "/docker", "/podman", "/shared", "/café\t"}
	if !slices.Equal(spec.Findings, wantFindings) {
		t.Errorf("findings = %q, want %q", spec.Findings, wantFindings)
	}
	for _, m := range spec.Mounts {
		if m.Destination == "/dev/host-shm" && (m.Candidate || m.Finding || m.Reason != "excluded by /dev") {
			t.Errorf("excluded mount: %+v", m)
		}
	}
	if missing.Error == "" || missing.Path != "/nonexistent" || len(missing.Mounts) != 0 {
		t.Errorf("missing config: %+v", missing)
	}
	// Machines read the action by name.
	if !strings.Contains(stdout, `"action": "unchanged"`) {
		t.Errorf("action not spelled out:\n%s", stdout)
	}
}

func TestCheckStdin(t *testing.T) {
	isolate(t)
	stdout, stderr, code := runAppStdin(t, `{"mounts":[{"destination":"/vol","source":"/srv","options":["rbind","ro"]}]}`, "check", "--policy", "Disabled", "-")
	if code != 1 || !strings.HasPrefix(stdout, "stdin\n") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// runAppStdin is runApp with stdin reading input.
func runAppStdin(t *testing.T, input string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(input); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	saved := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = saved }()
	return runApp(t, args...)
}
