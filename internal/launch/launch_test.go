package launch

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/probe"
)

func script(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolve(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := script(t, dir, "myrunc", "exit 0", 0o755)
	notExec := script(t, dir, "noexec", "exit 0", 0o644)
	selfLink := filepath.Join(dir, "selflink")
	if err := os.Symlink(self, selfLink); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)

	tests := []struct {
		name, in, want string
		wantErr        error
	}{
		{"absolute path", good, good, nil},
		{"name in PATH", "myrunc", good, nil},
		{"missing path", filepath.Join(dir, "nope"), "", ErrRuntimeNotFound},
		{"missing name", "nope", "", ErrRuntimeNotFound},
		{"not executable", notExec, "", ErrNotExecutable},
		{"a directory", dir, "", ErrNotExecutable},
		{"itself", self, "", ErrSelf},
		{"itself through a symlink", selfLink, "", ErrSelf},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.in)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("Resolve(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), filepath.Base(tc.in)) {
				t.Errorf("error %q does not name %q", err, tc.in)
			}
		})
	}
}

func TestResolveDiscoverySkipsItself(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	first, second, third := t.TempDir(), t.TempDir(), t.TempDir()
	// rro-runc installed as "runc" early in PATH, as people do.
	if err := os.Symlink(self, filepath.Join(first, "runc")); err != nil {
		t.Fatal(err)
	}
	script(t, second, "crun", "exit 0", 0o755)
	realRunc := script(t, third, "runc", "exit 0", 0o755)

	t.Setenv("PATH", strings.Join([]string{first, second, third}, ":"))
	if got, err := Resolve(""); err != nil || got != realRunc {
		t.Errorf("Resolve(\"\") = %q, %v; want runc before crun, skipping rro-runc: %q", got, err, realRunc)
	}
	t.Setenv("PATH", strings.Join([]string{first, second}, ":"))
	if got, err := Resolve(""); err != nil || got != filepath.Join(second, "crun") {
		t.Errorf("Resolve(\"\") = %q, %v; want crun", got, err)
	}
	t.Setenv("PATH", first)
	if _, err := Resolve(""); !errors.Is(err, ErrRuntimeNotFound) {
		t.Errorf("Resolve(\"\") with only rro-runc in PATH = %v, want ErrRuntimeNotFound", err)
	}
}

// TestResolveEmptyPATH: conmon calls the runtime with PATH="" for Podman's
// cleanup; the system directories stand in.
func TestResolveEmptyPATH(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed")
	}
	t.Setenv("PATH", "")
	for _, name := range []string{"", "runc"} {
		got, err := Resolve(name)
		if err != nil || filepath.Base(got) != "runc" {
			t.Errorf("Resolve(%q) with empty PATH = %q, %v; want a runc like %s", name, got, err, runc)
		}
	}
}

func TestCheckLoop(t *testing.T) {
	if err := CheckLoop(func(string) string { return "" }); err != nil {
		t.Errorf("clean environment: %v", err)
	}
	err := CheckLoop(func(k string) string {
		if k == probe.EnvChain {
			return "/usr/local/bin/other-wrapper"
		}
		return ""
	})
	if !errors.Is(err, ErrLoop) || !strings.Contains(err.Error(), "/usr/local/bin/other-wrapper") {
		t.Errorf("CheckLoop = %v, want ErrLoop naming the runtime", err)
	}
}

// TestExec runs this test binary again in a child that calls Exec, so the
// exec replaces the child and what the runtime saw can be read back.
func TestExec(t *testing.T) {
	if os.Getenv("LAUNCH_TEST_EXEC") != "" {
		args := strings.Split(os.Getenv("LAUNCH_TEST_EXEC"), "|")
		err := Exec(args[0], args[1:], os.Environ())
		os.Stderr.WriteString(err.Error())
		os.Exit(3)
	}
	dir := t.TempDir()
	rt := script(t, dir, "crun", `echo "argv0=$0"; for a in "$@"; do echo "arg=$a"; done
echo "chain=$`+probe.EnvChain+`"; echo "cwd=$(pwd)"; read line; echo "stdin=$line"
[ -e /proc/self/fd/5 ] && echo fd5=open; exit 7`, 0o755)

	cmd := exec.Command(os.Args[0], "-test.run=^TestExec$")
	cmd.Env = append(os.Environ(), "LAUNCH_TEST_EXEC="+rt+"|--root|/r|create|--bundle|/b b|id")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("hello\n")
	extra, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	cmd.ExtraFiles = []*os.File{nil, nil, extra} // becomes fd 5
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Fatalf("want the runtime's exit status 7, got %v; output %q", err, out)
	}
	want := "argv0=" + rt + "\narg=--root\narg=/r\narg=create\narg=--bundle\narg=/b b\narg=id\nchain=" + rt +
		"\ncwd=" + dir + "\nstdin=hello\nfd5=open\n"
	if string(out) != want {
		t.Errorf("runtime saw\n%s\nwant\n%s", out, want)
	}
}
