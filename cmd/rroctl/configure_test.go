package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/internal/configure"
)

// runApp runs rroctl in-process, as main does, and returns everything a
// user sees: its outputs and exit status.
func runApp(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"rroctl"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func TestConfigureDocker(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "daemon.json")
	orig := "{\n  \"debug\": true\n}\n"
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"configure", "docker", "--config", path, "--binary", "/opt/rro/rro-runc", "--policy", "enabled", "--set-as-default"}

	stdout, stderr, code := runApp(t, append(args, "--dry-run")...)
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "--- "+path+"\n+++ "+path+"\n@@ ") || !strings.Contains(stdout, `+    "rro": {`) ||
		!strings.HasSuffix(stdout, "(dry run: nothing written)\n") {
		t.Errorf("dry-run output:\n%s", stdout)
	}
	if b, _ := os.ReadFile(path); string(b) != orig {
		t.Fatalf("dry run wrote the file")
	}

	stdout, stderr, code = runApp(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, "configured docker runtime \"rro\" (default) (backup "+path+".bak-") {
		t.Errorf("summary: %q", stdout)
	}
	var cfg struct {
		Runtimes map[string]struct {
			Path        string   `json:"path"`
			RuntimeArgs []string `json:"runtimeArgs"`
		} `json:"runtimes"`
		Default string `json:"default-runtime"`
		Debug   bool   `json:"debug"`
	}
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	rt := cfg.Runtimes["rro"]
	if rt.Path != "/opt/rro/rro-runc" || strings.Join(rt.RuntimeArgs, " ") != "--rro-policy=Enabled" || cfg.Default != "rro" || !cfg.Debug {
		t.Errorf("daemon.json:\n%s", b)
	}
	if !strings.Contains(stderr, "/opt/rro/rro-runc is not an executable file") {
		t.Errorf("no warning about the missing binary: %q", stderr)
	}

	stdout, _, code = runApp(t, args...)
	if code != 0 || !strings.Contains(stdout, "no change") {
		t.Errorf("second run: exit %d, %q", code, stdout)
	}
	if backups, _ := filepath.Glob(path + ".bak-*"); len(backups) != 1 {
		t.Errorf("backups %v, want exactly one", backups)
	}
}

func TestConfigureExitStatus(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(bad, []byte("version = 2\n[plugins\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "new.conf")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unparsable file", []string{"configure", "containerd", "--config", bad}, exitInput, bad + ": cannot parse as TOML"},
		{"no engine", []string{"configure"}, exitInput, "name the engine"},
		{"unknown engine", []string{"configure", "cri-o"}, exitInput, `unknown engine "cri-o"`},
		{"extra argument", []string{"configure", "podman", "--config", good, "extra"}, exitInput, `unexpected argument "extra"`},
		{"bad policy", []string{"configure", "docker", "--config", good, "--policy", "always"}, exitInput, `"always"`},
		{"policy is docker's", []string{"configure", "podman", "--config", good, "--policy", "Enabled"}, exitInput, "flag provided but not defined"},
		{"bad runtime name", []string{"configure", "podman", "--config", good, "--runtime-name", "a/b"}, exitInput, `runtime name "a/b"`},
		{"config is a directory", []string{"configure", "podman", "--config", dir}, exitFinding, dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runApp(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.stderr)
			}
		})
	}
	if b, _ := os.ReadFile(bad); string(b) != "version = 2\n[plugins\n" {
		t.Errorf("unparsable file changed: %q", b)
	}
	if _, err := os.Stat(good); err == nil {
		t.Errorf("%s written by a failed command", good)
	}
}

func TestConfigureBinaryDefaults(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	dir := t.TempDir()

	// No rro-runc beside rroctl: where make install puts it.
	conf := filepath.Join(dir, "a.conf")
	if _, stderr, code := runApp(t, "configure", "podman", "--config", conf); code != 0 {
		t.Fatal(stderr)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), `rro = ["`+fallbackBinary+`"]`) {
		t.Errorf("default binary:\n%s", b)
	}

	// The rro-runc beside rroctl, as a release unpacks them.
	beside := filepath.Join(filepath.Dir(exe), "rro-runc")
	if _, err := os.Stat(beside); err == nil {
		t.Skipf("%s exists already", beside)
	}
	if err := os.WriteFile(beside, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Skipf("cannot place rro-runc beside the test binary: %v", err)
	}
	t.Cleanup(func() { os.Remove(beside) })
	conf = filepath.Join(dir, "b.conf")
	if _, stderr, code := runApp(t, "configure", "podman", "--config", conf); code != 0 || stderr != "rroctl: podman reads it on its next command\n" {
		t.Fatalf("exit %d: %q", code, stderr)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), `rro = ["`+beside+`"]`) {
		t.Errorf("binary beside rroctl not used:\n%s", b)
	}

	// A relative --binary is made absolute: the engine runs it from
	// elsewhere.
	t.Chdir(dir)
	conf = filepath.Join(dir, "c.conf")
	if _, stderr, code := runApp(t, "configure", "podman", "--config", conf, "--binary", "./bin/rro-runc"); code != 0 {
		t.Fatal(stderr)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), `rro = ["`+filepath.Join(dir, "bin/rro-runc")+`"]`) {
		t.Errorf("relative binary:\n%s", b)
	}
}

// TestConfigureRemove: --remove takes out what configure installed and
// gives back the file as it was; it refuses a runtime it did not install.
func TestConfigureRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	orig := "# ops: keep\nversion = 3\n\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = 'runc'\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"configure", "containerd", "--config", path, "--binary", "/opt/rro/rro-runc"}
	if _, stderr, code := runApp(t, args...); code != 0 {
		t.Fatalf("configure: exit %d: %s", code, stderr)
	}
	configured, _ := os.ReadFile(path)
	remove := append(args[:len(args):len(args)], "--remove")

	stdout, stderr, code := runApp(t, append(remove, "--dry-run")...)
	wantDiff := configure.UnifiedDiff(path, path, configured, []byte(orig))
	if code != 0 || stderr != "" || stdout != wantDiff+path+": would remove containerd runtime \"rro\" (dry run: nothing written)\n" {
		t.Errorf("dry run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, configured) {
		t.Fatal("dry run wrote the file")
	}

	stdout, stderr, code = runApp(t, remove...)
	backups, _ := filepath.Glob(path + ".bak-*")
	if code != 0 || len(backups) != 2 || stderr != "rroctl: restart containerd to apply\n" ||
		!strings.HasPrefix(stdout, path+": removed containerd runtime \"rro\" (backup "+path+".bak-") {
		t.Errorf("remove: exit %d, backups %v\nstdout:\n%s\nstderr:\n%s", code, backups, stdout, stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != orig {
		t.Errorf("not the original:\n%s", configure.UnifiedDiff("original", "now", []byte(orig), b))
	}

	stdout, stderr, code = runApp(t, remove...)
	if code != 0 || stderr != "" || stdout != path+": no change: containerd runtime \"rro\" is not configured\n" {
		t.Errorf("second remove: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// A handler that runs another binary is not rroctl's to remove.
	if _, stderr, code := runApp(t, args...); code != 0 {
		t.Fatal(stderr)
	}
	before, _ := os.ReadFile(path)
	stdout, stderr, code = runApp(t, "configure", "containerd", "--config", path, "--binary", "/usr/bin/other", "--remove")
	want := "rroctl: configure containerd: " + path + ": not installed by rroctl: runtime handler plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.rro runs /opt/rro/rro-runc, not /usr/bin/other (give that binary if rroctl installed it) (file left untouched)\n"
	if code != exitInput || stdout != "" || stderr != want {
		t.Errorf("foreign handler: exit %d\nstdout:\n%s\nstderr:\n%s\nwant stderr:\n%s", code, stdout, stderr, want)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, before) {
		t.Errorf("refused file changed")
	}
}
