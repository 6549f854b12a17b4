package main

import (
	"io"

	"github.com/moby/sys/mountinfo"
)

func parseMountinfo(r io.Reader) ([]*mountinfo.Info, error) {
	return mountinfo.GetMountsFromReader(r, nil)
}
