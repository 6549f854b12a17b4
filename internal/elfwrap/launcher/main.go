// Command launcher is elfwrap's small ELF runtime for timing-sensitive
// tests: it execs PATH.elfwrap.sh (PATH being how it was started) with
// its arguments, in the same process, and starts in about a millisecond
// where a copy of a test binary takes tens (measured in the reliability
// load test on a loaded 2-core machine).
package main

import (
	"os"
	"syscall"
)

func main() {
	script := os.Args[0] + ".elfwrap.sh"
	err := syscall.Exec(script, append([]string{script}, os.Args[1:]...), os.Environ())
	os.Stderr.WriteString("elfwrap launcher: exec " + script + ": " + err.Error() + "\n")
	os.Exit(127)
}
