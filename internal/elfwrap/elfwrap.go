// Package elfwrap gives tests a runtime that is an ELF executable with
// the behaviour of a shell script. The probe caches only ELF executables
// (a script's answer can change without the script changing), so tests of
// the cache need fake runtimes the cache will vouch for.
//
// Such a runtime is a copy of the running test binary with the script
// beside it (PATH.elfwrap.sh); started under the copy's path, Main execs
// the script (its #! line picks the shell) with the same arguments, in
// the same process: $$ is the PID the caller started. Writing the runtime
// again copies the binary again (a new inode: a new build to the cache);
// changing only the script is changing what an ELF wrapper runs, which
// the cache cannot see, as documented in probe.
package elfwrap

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

const scriptSuffix = ".elfwrap.sh"

// Main makes this process the script when it was started as a copy made
// by Write, and never returns then. Call it first in TestMain.
func Main() {
	script := os.Args[0] + scriptSuffix
	if _, err := os.Stat(script); err != nil {
		return
	}
	err := syscall.Exec(script, append([]string{script}, os.Args[1:]...), os.Environ())
	os.Stderr.WriteString("elfwrap: exec " + script + ": " + err.Error() + "\n")
	os.Exit(127)
}

// Write makes path an ELF runtime that runs script (the script's text,
// starting with its #! line): script to path.elfwrap.sh, then a
// fresh copy of the test binary renamed onto path, mode 0755.
func Write(t testing.TB, path, script string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	WriteFrom(t, self, path, script)
}

// WriteFrom is Write with the ELF executable copied from elf: the test
// binary (Write), or the small launcher command in this package's
// launcher directory for tests that time their runtime.
func WriteFrom(t testing.TB, elf, path, script string) {
	t.Helper()
	WriteScript(t, path, script)
	in, err := os.Open(elf)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".elfwrap-")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(tmp, in); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
}

// WriteScript changes only what the ELF runtime at path runs: its
// identity stays, as when the inner runtime of a wrapper is replaced.
func WriteScript(t testing.TB, path, script string) {
	t.Helper()
	if err := os.WriteFile(path+scriptSuffix, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}
