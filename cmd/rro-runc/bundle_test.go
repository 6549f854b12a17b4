package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rro-runc/rro-runc/internal/argv"
	"github.com/rro-runc/rro-runc/internal/policy"
	"github.com/rro-runc/rro-runc/probe"
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

// TestDisabledReadsNothing: the administrator's off switch must start the
// container whatever the bundle holds, without opening config.json.
func TestDisabledReadsNothing(t *testing.T) {
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
	t.Setenv(probe.EnvCacheDir, t.TempDir())
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
