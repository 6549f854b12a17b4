package probe

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel puts the runtime in its own process group and kills
// the group on timeout: a runtime that is a shell script (a shim, a
// wrapper) would otherwise leave its hung child holding the pipes.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
