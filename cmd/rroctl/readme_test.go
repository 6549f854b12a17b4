package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/internal/configure"
)

// TestReadmeSnippets regenerates every configuration snippet of README.md
// with `rroctl configure` on an empty file, so the install instructions
// cannot drift from what the tool (and the e2e suites) really write; and
// `--remove` empties the file again.
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
			// And --remove takes all of it out again.
			if _, stderr, code := runApp(t, append(args, "--remove")...); code != 0 {
				t.Fatalf("rroctl %s --remove: exit %d: %s", strings.Join(args, " "), code, stderr)
			}
			if left, _ := os.ReadFile(path); len(left) != 0 {
				t.Errorf("--remove left:\n%s", left)
			}
		})
	}
}

// TestDocsExamples runs again the examples of docs/rroctl.md that do not
// depend on this machine's kernel, runtimes or containers, on the same
// bundle, so the documented output cannot drift from the tool's.
func TestDocsExamples(t *testing.T) {
	isolate(t)
	doc, err := os.ReadFile("../../docs/rroctl.md")
	if err != nil {
		t.Fatal(err)
	}
	// The documented bundle; its paths need not exist for check and rewrite.
	const config = `{
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["/bin/sleep", "600"], "env": ["PATH=/bin"]},
  "root": {"path": "/tmp/rroctl-doc/rootfs", "readonly": true},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
    {"destination": "/vol", "type": "bind", "source": "/tmp/rroctl-doc/vol", "options": ["rbind", "ro"]}
  ],
  "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]}
}
`
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "plain"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"plain/config.json", "config.json"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)

	var from int
	for _, tc := range []struct {
		command string
		args    []string // what runs: the command, without a probe
	}{
		{"rroctl check --policy Disabled plain", nil},
		{"rroctl check --format json --policy Disabled plain", nil},
		{"rroctl rewrite --policy Enabled config.json", []string{"rewrite", "--assume-supported", "--policy", "Enabled", "config.json"}},
	} {
		t.Run(tc.command, func(t *testing.T) {
			args := tc.args
			if args == nil {
				args = strings.Fields(tc.command)[1:]
			}
			from = checkExample(t, string(doc), from, tc.command, args, nil)
		})
	}
}

// checkExample finds in doc, from offset from on, the example of
// command: "$ command\n" then what it prints up to its "[exit N]" line.
// It runs args (the command, or what stands for it) and checks that the
// example shows exactly what rroctl prints, stdout then stderr, and its
// exit status; norm, when set, rewrites both before they are compared
// (what changes from run to run). It returns where the example ends.
func checkExample(t *testing.T, doc string, from int, command string, args []string, norm func(string) string) int {
	t.Helper()
	i := strings.Index(doc[from:], "$ "+command+"\n")
	if i < 0 {
		t.Fatalf("docs/rroctl.md has no example of %q (after offset %d)", command, from)
	}
	start := from + i + len("$ "+command+"\n")
	exit := regexp.MustCompile(`(?m)^\[exit \d+\]$`).FindStringIndex(doc[start:])
	if exit == nil {
		t.Fatalf("docs/rroctl.md: the example of %q has no [exit N] line", command)
	}
	shown := doc[start : start+exit[1]]
	stdout, stderr, code := runApp(t, args...)
	got := fmt.Sprintf("%s%s[exit %d]", stdout, stderr, code)
	if norm != nil {
		got, shown = norm(got), norm(shown)
	}
	if got != shown {
		t.Errorf("docs/rroctl.md shows for %q:\n%s\nrroctl now prints:\n%s\n%s", command, shown, got, configure.UnifiedDiff("docs", "now", []byte(shown+"\n"), []byte(got+"\n")))
	}
	return start + exit[1]
}

// TestDocsConfigureExamples runs the examples of rroctl configure in
// docs/rroctl.md one after the other on the documented files, and checks
// that each prints exactly what the page shows. The documented binary
// stands for an installed rro-runc: an executable in the test's
// directory runs in its place, and backup names carry this run's time.
func TestDocsConfigureExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/rroctl.md")
	if err != nil {
		t.Fatal(err)
	}
	from := strings.Index(string(doc), "\n## rroctl configure\n")
	if from < 0 {
		t.Fatal("docs/rroctl.md has no section rroctl configure")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	const documented = "/usr/local/bin/rro-runc"
	installed := filepath.Join(dir, "bin", "rro-runc")
	if err := os.MkdirAll(filepath.Dir(installed), 0o755); err != nil {
		t.Fatal(err)
	}
	orig := "# Managed by ops.\nversion = 3\n\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = 'runc'\n"
	for name, body := range map[string]string{
		installed:     "#!/bin/sh\n",
		"config.toml": orig,
		"daemon.json": "{\n  \"debug\": true,\n}\n",
	} {
		if err := os.WriteFile(name, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(string(doc[from:]), "```toml\n"+orig+"```") {
		t.Errorf("docs/rroctl.md does not show the config.toml the examples start from:\n%s", orig)
	}
	backup := regexp.MustCompile(`\.bak-\d{8}T\d{6}Z(\.\d+)?`)
	for _, command := range []string{
		"rroctl configure containerd --config config.toml --binary /usr/local/bin/rro-runc --dry-run",
		"rroctl configure containerd --config config.toml --binary /usr/local/bin/rro-runc",
		"rroctl configure containerd --config config.toml --binary /usr/local/bin/rro-runc",
		"rroctl configure containerd --config config.toml --binary /opt/rro/rro-runc --remove",
		"rroctl configure containerd --config config.toml --binary /usr/local/bin/rro-runc --remove --dry-run",
		"rroctl configure containerd --config config.toml --binary /usr/local/bin/rro-runc --remove",
		"rroctl configure containerd --config config.toml --binary /usr/local/bin/rro-runc --remove",
		"rroctl configure docker --config daemon.json",
	} {
		args := strings.Fields(strings.ReplaceAll(command, documented, installed))[1:]
		from = checkExample(t, string(doc), from, command, args, func(s string) string {
			return backup.ReplaceAllString(strings.ReplaceAll(s, installed, documented), ".bak-TIMESTAMP")
		})
	}
	if b, _ := os.ReadFile("config.toml"); string(b) != orig {
		t.Errorf("config.toml is not back to its bytes:\n%s", configure.UnifiedDiff("before", "after", []byte(orig), b))
	}
}
