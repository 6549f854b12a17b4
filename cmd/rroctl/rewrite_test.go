package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/rewrite"
)

func TestRewriteStdout(t *testing.T) {
	isolate(t)
	orig, err := os.ReadFile(runcSpec)
	if err != nil {
		t.Fatal(err)
	}
	// The same bytes the wrapper would write, from the same code.
	plan, err := rewrite.Analyze(orig, rewrite.Options{Policy: rewrite.IfPossible, Exclude: rewrite.DefaultExclude})
	if err != nil {
		t.Fatal(err)
	}
	res, err := plan.Apply(rewrite.Support{Supported: true})
	if err != nil || !res.Changed {
		t.Fatalf("rewrite: %v, changed %v", err, res.Changed)
	}

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"file", "", []string{"--assume-supported", runcSpec}},
		{"stdin", string(orig), []string{"--assume-supported", "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runAppStdin(t, tc.stdin, append([]string{"rewrite"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if stdout != string(res.Config) {
				t.Errorf("stdout differs from rewrite.Apply's output:\n%s", stdout)
			}
			if !strings.Contains(stderr, "made rro: /ctr (added rro)") {
				t.Errorf("stderr: %s", stderr)
			}
		})
	}
	if b, _ := os.ReadFile(runcSpec); !bytes.Equal(b, orig) {
		t.Fatal("rewrite without --in-place changed the file")
	}
}

func TestRewriteInPlace(t *testing.T) {
	isolate(t)
	dir := writeConfig(t, "{\n  \"mounts\": [{\"destination\": \"/vol\", \"source\": \"/srv\", \"options\": [\"rbind\", \"ro\"]}]\n}\n")
	p := filepath.Join(dir, "config.json")
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runApp(t, "rewrite", "--assume-supported", "--policy", "Enabled", "--in-place", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(p)
	want := "{\n  \"mounts\": [{\"destination\": \"/vol\", \"source\": \"/srv\", \"options\": [\"rbind\", \"ro\",\"rro\",\"rprivate\"]}]" +
		",\"annotations\":{\"org.rro-runc.applied\":\"/vol\"}\n}\n"
	if string(got) != want {
		t.Errorf("config.json:\n%s\nwant:\n%s", got, want)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the original 0600", fi.Mode().Perm())
	}

	// A second run has nothing to do and must not even replace the file.
	_, stderr, code = runApp(t, "rewrite", "--assume-supported", "-i", p)
	if code != 0 || !strings.Contains(stderr, "unchanged") {
		t.Errorf("second run: exit %d: %s", code, stderr)
	}
	if again, _ := os.Stat(p); !os.SameFile(fi, again) {
		t.Error("an unchanged config was replaced")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("bundle holds %v, want config.json alone", entries)
	}
}

func TestRewriteRefusals(t *testing.T) {
	isolate(t)
	tooOld := fakeRuntime(t, "runc version 1.0.2", "", "")
	const plain = `{"mounts":[{"destination":"/vol","source":"/srv","options":["rbind","ro"]}]}`
	for _, tc := range []struct {
		name   string
		config string
		args   []string
		code   int
		want   string
	}{
		{"Enabled without support", plain, []string{"--runtime", tooOld, "--policy", "Enabled", "-i"}, 1, "runc 1.0.2 < 1.1.0"},
		{"strict propagation", `{"mounts":[{"destination":"/vol","source":"/srv","options":["rbind","ro","rslave"]}]}`,
			[]string{"--assume-supported", "--policy", "Enabled", "-i"}, 1, "propagation rslave"},
		{"annotation", `{"annotations":{"org.rro-runc.exclude":"/vol"},"mounts":[]}`, []string{"-i"}, 1, "allow_annotation_opt_out is false"},
		{"not JSON", `{"mounts": [}`, []string{"-i"}, 2, "not valid JSON"},
		{"runc would reject it", `{"mounts":[{"destination":"/vol","options":"ro"}]}`, []string{"-i"}, 2, "options is a string"},
		{"IfPossible without support leaves it", plain, []string{"--runtime", tooOld, "-i"}, 0, "left read-only at the top only: /vol"},
		{"runtime cannot be found", plain, []string{"--runtime", "/nonexistent/runc", "-i"}, 2, "--assume-supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeConfig(t, tc.config)
			stdout, stderr, code := runApp(t, append(append([]string{"rewrite"}, tc.args...), dir)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tc.code, stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); string(b) != tc.config {
				t.Errorf("config.json changed to %s", b)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("bundle holds %v, want config.json alone", entries)
			}
		})
	}
	// Refused on stdout too: nothing printed, so a pipeline never takes a
	// half-protected config for a rewritten one.
	stdout, _, code := runAppStdin(t, plain, "rewrite", "--runtime", tooOld, "--policy", "Enabled", "-")
	if code != 1 || stdout != "" {
		t.Errorf("refused to stdout: exit %d, stdout %q", code, stdout)
	}
}

func TestRewriteUsage(t *testing.T) {
	isolate(t)
	for _, args := range [][]string{
		{"rewrite"},
		{"rewrite", runcSpec, compact},
		{"rewrite", "--in-place", "-"},
		{"rewrite", "/nonexistent/config.json"},
		{"rewrite", runcSpec, "--in-place"},
	} {
		if stdout, stderr, code := runApp(t, args...); code != 2 || stdout != "" || stderr == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and a message", args, code, stdout, stderr)
		}
	}
}
