//go:build !linux

package main

import (
	"errors"
	"io"

	"github.com/moby/sys/mountinfo"
)

// Only Linux has /proc/PID/mountinfo, and only Linux has rro.
func parseMountinfo(io.Reader) ([]*mountinfo.Info, error) {
	return nil, errors.New("verify needs Linux's /proc/PID/mountinfo")
}
