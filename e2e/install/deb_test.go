package install

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// debFiles are what the package puts on the machine.
var debFiles = []string{
	"/usr/bin/rro-runc", "/usr/bin/rroctl", "/etc/rro-runc/config.toml",
	"/usr/share/doc/rro-runc/README.md", "/usr/share/doc/rro-runc/rroctl.md", "/usr/share/doc/rro-runc/copyright",
}

// dpkg runs dpkg, waiting while another dpkg or apt holds its lock (other
// work on this machine may be installing packages).
func dpkg(t *testing.T, args ...string) (string, error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := exec.Command("dpkg", args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "lock") || time.Now().After(deadline) {
			return string(out), err
		}
		time.Sleep(time.Second)
	}
}

// debStatus is dpkg's status abbreviation of rro-runc ("ii ", "rc ", ...),
// "" when dpkg does not know it.
func debStatus(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "rro-runc").Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// TestDebianPackage builds the .deb as make deb does, installs it with
// dpkg on this machine, runs the demo with the installed rro-runc, then
// removes (config.toml stays: a conffile) and purges it (nothing stays).
func TestDebianPackage(t *testing.T) {
	fixture.RequireRoot(t)
	fixture.LookPath(t, "dpkg-deb")
	fixture.LookPath(t, "runc")
	if _, err := os.Stat("/bin/busybox"); err != nil {
		fixture.SkipOrFail(t, "/bin/busybox missing (busybox-static), the demo needs it")
	}
	// Never touch an installation that is not the test's.
	if s := debStatus(t); s != "" && !strings.HasPrefix(s, "un") {
		fixture.SkipOrFail(t, "package rro-runc is already known to dpkg (status %q): not touching it", s)
	}
	for _, f := range append(debFiles, "/etc/rro-runc") {
		if _, err := os.Lstat(f); err == nil {
			fixture.SkipOrFail(t, "%s exists on this machine: not overwriting it", f)
		}
	}

	root := fixture.ModuleRoot(t)
	rroRunc, rroctl := fixture.Binaries(t)
	bin := t.TempDir()
	for _, b := range []string{rroRunc, rroctl} {
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, filepath.Base(b)), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("./packaging/deb/build.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "VERSION=v0.0.0-e2e", "BIN_DIR="+bin, "OUT_DIR="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("packaging/deb/build.sh: %v\n%s", err, out)
	}
	deb := strings.TrimSpace(string(out))
	if !strings.HasSuffix(deb, ".deb") || !strings.Contains(deb, "rro-runc_0.0.0+e2e_") {
		t.Fatalf("build.sh printed %q", deb)
	}
	if out, err := exec.Command("dpkg-deb", "-f", deb, "Version").Output(); err != nil || strings.TrimSpace(string(out)) != "0.0.0+e2e" {
		t.Errorf("package version %q %v", out, err)
	}
	t.Cleanup(func() {
		if debStatus(t) != "" {
			dpkg(t, "--purge", "rro-runc")
		}
	})

	if out, err := dpkg(t, "--install", deb); err != nil {
		t.Fatalf("dpkg --install: %v\n%s", err, out)
	}
	if s := debStatus(t); s != "ii " {
		t.Fatalf("after dpkg --install, status %q", s)
	}
	for _, f := range debFiles {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("installed package lacks %s: %v", f, err)
		}
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Conffiles}", "rro-runc").Output(); !strings.Contains(string(out), "/etc/rro-runc/config.toml ") {
		t.Errorf("config.toml is not a conffile: %q", out)
	}
	if out, err := exec.Command("/usr/bin/rroctl", "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "rroctl ") {
		t.Errorf("installed rroctl version: %v\n%s", err, out)
	}

	// The demo, with the installed rro-runc.
	demo := exec.Command("sh", "scripts/demo.sh")
	demo.Dir = root
	demo.Env = append(os.Environ(), "RRO_RUNC=/usr/bin/rro-runc")
	dout, err := demo.CombinedOutput()
	t.Logf("RRO_RUNC=/usr/bin/rro-runc scripts/demo.sh:\n%s", dout)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	plain, rro, ok := strings.Cut(string(dout), "2) rro-runc (/usr/bin/rro-runc)")
	if !ok {
		t.Fatal("the demo did not run the installed rro-runc")
	}
	for _, want := range []string{"/vol/sub: WRITABLE", "/vol/sub/deep: WRITABLE"} {
		if !strings.Contains(plain, want) {
			t.Errorf("plain runc part lacks %q", want)
		}
	}
	for _, want := range []string{"/vol: read-only (EROFS)", "/vol/sub: read-only (EROFS)", "/vol/sub/deep: read-only (EROFS)"} {
		if !strings.Contains(rro, want) {
			t.Errorf("installed rro-runc part lacks %q", want)
		}
	}

	// Remove: everything but the conffile goes (dpkg keeps conffiles
	// until purge, by design).
	if out, err := dpkg(t, "--remove", "rro-runc"); err != nil {
		t.Fatalf("dpkg --remove: %v\n%s", err, out)
	}
	if s := debStatus(t); s != "rc " {
		t.Errorf("after dpkg --remove, status %q, want \"rc \" (config files kept)", s)
	}
	for _, f := range debFiles {
		_, err := os.Lstat(f)
		if f == "/etc/rro-runc/config.toml" {
			if err != nil {
				t.Errorf("dpkg --remove removed the conffile %s", f)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after dpkg --remove, %s: %v", f, err)
		}
	}
	// Purge: nothing is left, not even the directories.
	if out, err := dpkg(t, "--purge", "rro-runc"); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, out)
	}
	if s := debStatus(t); s != "" && !strings.HasPrefix(s, "un") {
		t.Errorf("after dpkg --purge, status %q", s)
	}
	for _, f := range append(debFiles, "/etc/rro-runc", "/usr/share/doc/rro-runc") {
		if _, err := os.Lstat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after dpkg --purge, %s: %v", f, err)
		}
	}
}
