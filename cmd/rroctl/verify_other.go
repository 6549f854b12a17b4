//go:build !linux

package main

import (
	"errors"
	"io"

	"github.com/moby/sys/mountinfo"
)

var errNotLinux = errors.New("verify needs Linux's /proc/PID/mountinfo")

// Only Linux has /proc/PID/mountinfo, and only Linux has rro.
func parseMountinfo(io.Reader) ([]*mountinfo.Info, error) { return nil, errNotLinux }

type pinnedProcess struct{}

func pinProcess(int) (*pinnedProcess, error) { return nil, errNotLinux }

func (*pinnedProcess) stillSame() error { return errNotLinux }

func (*pinnedProcess) close() {}
