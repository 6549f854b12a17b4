package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

func parseMountinfo(r io.Reader) ([]*mountinfo.Info, error) {
	return mountinfo.GetMountsFromReader(r, nil)
}

// pinnedProcess holds a pidfd: a reference to one process that a later
// process with the same PID can never satisfy.
type pinnedProcess struct {
	pid, pidfd int
	start      uint64 // start time in clock ticks after boot, /proc/PID/stat field 22
}

// pinProcess pins the process that has pid now. The guarantee, with
// stillSame called after every read under /proc/PID: the process pinned
// here was alive from pinProcess to stillSame, so no other process could
// hold pid in between, and everything read under /proc/PID in between
// was that process's. A process that exits in between (or is a zombie at
// the end, whose mount table is gone) fails stillSame; a PID that no
// process has fails here.
func pinProcess(pid int) (*pinnedProcess, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err == unix.ESRCH {
		return nil, fmt.Errorf("process %d does not exist (gone?)", pid)
	}
	if err != nil {
		return nil, fmt.Errorf("process %d: pidfd_open: %w", pid, err)
	}
	p := &pinnedProcess{pid: pid, pidfd: fd}
	state, start, err := procStat(pid)
	if err != nil || state == 'Z' || state == 'X' {
		p.close()
		return nil, fmt.Errorf("process %d has exited: it has no mount table to read", pid)
	}
	p.start = start
	return p, nil
}

// stillSame fails unless the pinned process is alive and not a zombie,
// with the start time it had when pinned.
func (p *pinnedProcess) stillSame() error {
	// Signal 0 checks only that the process exists; EPERM (someone
	// else's process) means it does.
	if err := unix.PidfdSendSignal(p.pidfd, 0, nil, 0); err != nil && err != unix.EPERM {
		return fmt.Errorf("process %d exited while rroctl read its mount table (%v): nothing read can be trusted", p.pid, err)
	}
	state, start, err := procStat(p.pid)
	switch {
	case err != nil || state == 'Z' || state == 'X':
		return fmt.Errorf("process %d exited while rroctl read its mount table: nothing read can be trusted", p.pid)
	case start != p.start:
		return fmt.Errorf("process %d is another process than the one rroctl started to read (start time %d, now %d)", p.pid, p.start, start)
	}
	return nil
}

func (p *pinnedProcess) close() { unix.Close(p.pidfd) }

// procStat reads the state letter and the start time of /proc/PID/stat.
// The command name (field 2) may hold spaces and parentheses, so the
// fields are counted after its last ')'.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	start, err = strconv.ParseUint(string(f[19]), 10, 64)
	return f[0][0], start, err
}
