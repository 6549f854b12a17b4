package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rro-runc/rro-runc/internal/argv"
	"github.com/rro-runc/rro-runc/internal/policy"
	"github.com/rro-runc/rro-runc/rewrite"
)

// fakeRuntime is a runtime that answers the probe like a runc with rro.
func fakeRuntime(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "runc")
	script := `#!/bin/sh
case "$1" in
features) echo '{"ociVersionMin":"1.0.0","ociVersionMax":"1.0.2-dev","mountOptions":["rbind","ro","rro"]}' ;;
--version) echo 'runc version 1.1.5' ;;
esac
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func invocation(t *testing.T, bundle string) *argv.Invocation {
	t.Helper()
	inv, err := argv.Parse([]string{"create", "--bundle", bundle, "ctr"})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestProbeCacheDir: RRO_RUNC_CACHE_DIR is where the answer is kept, so
// tests and benchmarks never share /run/rro-runc with the node.
func TestProbeCacheDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	t.Setenv(EnvCacheDir, dir)
	probeSupport(fakeRuntime(t))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("cache directory %s: %v", dir, err)
	}
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "runtime-") {
		t.Errorf("cache directory holds %v, want one runtime-*.json", entries)
	}
}

// TestDisabledStartsAnyBundle: the administrator's off switch must start
// the container whatever the bundle holds; what rro-runc cannot read, the
// runtime reports.
func TestDisabledStartsAnyBundle(t *testing.T) {
	s := &policy.Settings{Policy: rewrite.Disabled}
	for _, tc := range []struct {
		name  string
		setup func(config string) error
	}{
		{"missing", func(string) error { return nil }},
		{"a FIFO", func(c string) error { return syscall.Mkfifo(c, 0o644) }},
		{"a directory", func(c string) error { return os.Mkdir(c, 0o755) }},
		{"not JSON", func(c string) error { return os.WriteFile(c, []byte("{"), 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := t.TempDir()
			if err := tc.setup(filepath.Join(bundle, "config.json")); err != nil {
				t.Fatal(err)
			}
			if err := rewriteBundle(invocation(t, bundle), s, "/nonexistent/runc"); err != nil {
				t.Errorf("policy Disabled: %v", err)
			}
		})
	}
}

// TestRefusedLeavesConfig: every way rewriteBundle refuses names the file
// and leaves its bytes alone.
func TestRefusedLeavesConfig(t *testing.T) {
	runtime := fakeRuntime(t)
	t.Setenv(EnvCacheDir, t.TempDir())
	for _, tc := range []struct {
		name, config, want string
	}{
		{"not JSON", "{", "not valid JSON"},
		{"mounts not an array", `{"mounts":{}}`, "mounts"},
		{"option not a string", `{"mounts":[{"destination":"/v","options":["rbind",1]}]}`, "options[1]"},
		{"unknown annotation policy", `{"annotations":{"org.rro-runc.policy":"Sometimes"},"mounts":[]}`, "Sometimes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := t.TempDir()
			config := filepath.Join(bundle, "config.json")
			if err := os.WriteFile(config, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			err := rewriteBundle(invocation(t, bundle), &policy.Settings{Policy: rewrite.IfPossible}, runtime)
			if err == nil || !strings.Contains(err.Error(), config) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s and %q", err, config, tc.want)
			}
			if got, _ := os.ReadFile(config); !bytes.Equal(got, []byte(tc.config)) {
				t.Errorf("config.json changed to %q", got)
			}
		})
	}
}

// TestForgedAppliedAnnotation: a config never leaves rro-runc carrying an
// org.rro-runc.applied (or .excluded) list rro-runc did not write, under
// every policy, whether or not anything is rewritten, and without a probe
// when nothing needs one. Under Disabled the file is written only for that.
func TestForgedAppliedAnnotation(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir())
	forged := `{"ociVersion":"1.0.2","annotations":{"io.k8s":"x","org.rro-runc.applied":"/vol","org.rro-runc.excluded":"/z"},` +
		`"mounts":[{"destination":"/vol","type":"bind","source":"/srv","options":["rbind","ro"]}]}`
	escaped := strings.Replace(forged, `org.rro-runc.applied`, `org.rro-runc.appli\u0065d`, 1)
	rwOnly := strings.Replace(forged, `"ro"]`, `"rw"]`, 1)
	for _, tc := range []struct {
		name    string
		policy  rewrite.Policy
		config  string
		runtime string // "" means a path that fails if probed
		applied string // what the annotation must be afterwards, "" absent
	}{
		{"Disabled", rewrite.Disabled, forged, "", ""},
		{"Disabled, key escaped", rewrite.Disabled, escaped, "", ""},
		{"IfPossible, nothing to rewrite", rewrite.IfPossible, rwOnly, "", ""},
		{"IfPossible without support", rewrite.IfPossible, forged, "/nonexistent/runc", ""},
		{"Enabled, rewritten", rewrite.Enabled, forged, "fake", "/vol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := t.TempDir()
			config := filepath.Join(bundle, "config.json")
			if err := os.WriteFile(config, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			runtime := tc.runtime
			switch runtime {
			case "":
				runtime = filepath.Join(t.TempDir(), "must-not-be-probed")
			case "fake":
				runtime = fakeRuntime(t)
			}
			if err := rewriteBundle(invocation(t, bundle), &policy.Settings{Policy: tc.policy}, runtime); err != nil {
				t.Fatal(err)
			}
			var spec specs.Spec
			b, _ := os.ReadFile(config)
			if err := json.Unmarshal(b, &spec); err != nil {
				t.Fatalf("config.json after: %v\n%s", err, b)
			}
			got, ok := spec.Annotations[rewrite.AnnotationApplied]
			if got != tc.applied || ok != (tc.applied != "") {
				t.Errorf("applied annotation %q (present %v), want %q\n%s", got, ok, tc.applied, b)
			}
			if _, ok := spec.Annotations[rewrite.AnnotationExcluded]; ok {
				t.Errorf("forged excluded annotation kept\n%s", b)
			}
			if spec.Annotations["io.k8s"] != "x" {
				t.Errorf("other annotations lost\n%s", b)
			}
		})
	}
	t.Run("Disabled refuses a forged record it cannot edit", func(t *testing.T) {
		bundle := t.TempDir()
		config := filepath.Join(bundle, "config.json")
		// Two non-empty mounts arrays: runc merges them, rro-runc cannot
		// tell what runc reads, so it cannot edit the file.
		twice := strings.Replace(forged, `"mounts":`, `"mounts":[{"destination":"/a"}],"mounts":`, 1)
		if err := os.WriteFile(config, []byte(twice), 0o644); err != nil {
			t.Fatal(err)
		}
		err := rewriteBundle(invocation(t, bundle), &policy.Settings{Policy: rewrite.Disabled}, "/nonexistent")
		if err == nil || !strings.Contains(err.Error(), config) {
			t.Fatalf("error %v, want one naming %s", err, config)
		}
		// Clean, but with a \u escape, so that rro-runc has to look.
		clean := strings.Replace(twice, `,"org.rro-runc.applied":"/vol","org.rro-runc.excluded":"/z"`, `,"e":"\u0041"`, 1)
		if err := os.WriteFile(config, []byte(clean), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := rewriteBundle(invocation(t, bundle), &policy.Settings{Policy: rewrite.Disabled}, "/nonexistent"); err != nil {
			t.Fatalf("Disabled, nothing of rro-runc's: %v", err)
		}
	})
	t.Run("Disabled leaves a clean config unwritten", func(t *testing.T) {
		bundle := t.TempDir()
		config := filepath.Join(bundle, "config.json")
		clean := strings.Replace(forged, `,"org.rro-runc.applied":"/vol","org.rro-runc.excluded":"/z"`, "", 1)
		if err := os.WriteFile(config, []byte(clean), 0o644); err != nil {
			t.Fatal(err)
		}
		before, _ := os.Stat(config)
		if err := rewriteBundle(invocation(t, bundle), &policy.Settings{Policy: rewrite.Disabled}, "/nonexistent"); err != nil {
			t.Fatal(err)
		}
		after, _ := os.Stat(config)
		if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
			t.Error("policy Disabled replaced a config that carries nothing of rro-runc's")
		}
	})
}
