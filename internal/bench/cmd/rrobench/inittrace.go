package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
)

// initLine is one line of GODEBUG=inittrace=1:
// "init PKG @START ms, CLOCK ms clock, BYTES bytes, ALLOCS allocs".
var initLineRE = regexp.MustCompile(`^init (\S+) @([0-9.]+) ms, ([0-9.]+) ms clock, (\d+) bytes, (\d+) allocs`)

type initRecord struct {
	pkg           string
	at, clock     float64 // ms
	bytes, allocs int64
}

func parseInitTrace(r io.Reader) ([]initRecord, error) {
	var recs []initRecord
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := initLineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		rec := initRecord{pkg: m[1]}
		var err error
		if rec.at, err = strconv.ParseFloat(m[2], 64); err != nil {
			return nil, fmt.Errorf("inittrace %q: %w", sc.Text(), err)
		}
		if rec.clock, err = strconv.ParseFloat(m[3], 64); err != nil {
			return nil, fmt.Errorf("inittrace %q: %w", sc.Text(), err)
		}
		rec.bytes, _ = strconv.ParseInt(m[4], 10, 64)
		rec.allocs, _ = strconv.ParseInt(m[5], 10, 64)
		recs = append(recs, rec)
	}
	return recs, sc.Err()
}

// initSummary is one package over many runs: the median clock, and the
// bytes and allocations, which do not vary between runs.
type initSummary struct {
	pkg           string
	clock, at     float64 // medians, ms
	bytes, allocs int64
}

type initReport struct {
	runs     int
	pkgs     []initSummary // by median clock, largest first
	total    float64       // median over runs of the sum of clocks
	lastInit float64       // median over runs of when the last init ended: main starts about here
	bytes    int64
	allocs   int64
}

// traceInit runs path with GODEBUG=inittrace=1 n times. env must make the
// binary exec something that is not a Go program, or the runtime's own
// inittrace lines would mix in.
func traceInit(path string, args, env []string, n int) (initReport, error) {
	rep := initReport{runs: n}
	per := map[string][]initRecord{}
	var totals, lasts []float64
	for i := 0; i < n; i++ {
		cmd := exec.Command(path, args...)
		cmd.Env = append(slices.Clone(env), "GODEBUG=inittrace=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return rep, fmt.Errorf("%s with GODEBUG=inittrace=1: %w: %s", path, err, stderr.Bytes())
		}
		recs, err := parseInitTrace(&stderr)
		if err != nil {
			return rep, err
		}
		if len(recs) == 0 {
			return rep, fmt.Errorf("%s printed no inittrace lines", path)
		}
		var total, last float64
		var bytes, allocs int64
		for _, r := range recs {
			per[r.pkg] = append(per[r.pkg], r)
			total += r.clock
			last = max(last, r.at+r.clock)
			bytes += r.bytes
			allocs += r.allocs
		}
		totals = append(totals, total)
		lasts = append(lasts, last)
		rep.bytes, rep.allocs = bytes, allocs
	}
	for pkg, recs := range per {
		var clocks, ats []float64
		s := initSummary{pkg: pkg}
		for _, r := range recs {
			clocks = append(clocks, r.clock)
			ats = append(ats, r.at)
			s.bytes, s.allocs = r.bytes, r.allocs
		}
		slices.Sort(clocks)
		slices.Sort(ats)
		s.clock, s.at = quantile(clocks, 0.5), quantile(ats, 0.5)
		rep.pkgs = append(rep.pkgs, s)
	}
	slices.SortFunc(rep.pkgs, func(a, b initSummary) int {
		if a.clock != b.clock {
			if a.clock > b.clock {
				return -1
			}
			return 1
		}
		return int(b.bytes - a.bytes)
	})
	slices.Sort(totals)
	slices.Sort(lasts)
	rep.total, rep.lastInit = quantile(totals, 0.5), quantile(lasts, 0.5)
	return rep, nil
}
