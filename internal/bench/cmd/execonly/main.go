// Command execonly is the floor a Go wrapper cannot go below: it does
// nothing but exec the runtime named by RROBENCH_RUNTIME with its own
// arguments. rrobench builds it with the same flags as rro-runc, so the
// difference between the two is what rro-runc's own work costs, and the
// difference between this and direct runc is what the Go runtime's
// start-up costs.
package main

import (
	"os"
	"syscall"
)

func main() {
	rt := os.Getenv("RROBENCH_RUNTIME")
	if rt == "" {
		os.Stderr.WriteString("execonly: RROBENCH_RUNTIME is not set\n")
		os.Exit(1)
	}
	err := syscall.Exec(rt, append([]string{rt}, os.Args[1:]...), os.Environ())
	os.Stderr.WriteString("execonly: exec " + rt + ": " + err.Error() + "\n")
	os.Exit(1)
}
