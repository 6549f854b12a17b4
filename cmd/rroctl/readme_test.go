package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeSnippets regenerates every configuration snippet of README.md
// with `rroctl configure` on an empty file, so the install instructions
// cannot drift from what the tool (and the e2e suites) really write.
func TestReadmeSnippets(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		engine, file, fence string
		extra               []string
	}{
		{"containerd", "config.toml", "toml", nil},
		{"docker", "daemon.json", "json", []string{"--policy", "IfPossible"}},
		{"podman", "containers.conf", "toml", []string{"--set-as-default"}},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			args := append([]string{"configure", tc.engine, "--config", path, "--binary", "/usr/local/bin/rro-runc"}, tc.extra...)
			if _, stderr, code := runApp(t, args...); code != 0 {
				t.Fatalf("rroctl %s: exit %d: %s", strings.Join(args, " "), code, stderr)
			}
			written, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := "<!-- snippet: " + tc.engine + " -->\n```" + tc.fence + "\n" + string(written) + "```\n"
			if !strings.Contains(string(readme), want) {
				t.Errorf("README.md does not show what rroctl configure %s writes; it should contain:\n%s", tc.engine, want)
			}
		})
	}
}
