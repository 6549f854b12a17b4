package main

import (
	"fmt"
	"math"
	"slices"
	"syscall"
	"time"
)

// side is one way of running the same command: direct runc, rro-runc, or
// a floor wrapper. All sides of a case run the same arguments.
type side struct {
	name string
	path string
	env  []string
	cred *syscall.Credential // run as this user; nil: as the harness (root)
}

// sample is one timed call; before and after run outside the timed region
// (restore config.json, empty the probe cache, delete the container).
type sample struct {
	before func(s side) error
	args   func(s side) []string
	after  func(s side) error
}

// caseResult holds the durations of each side, index-aligned with sides;
// sides[0] is the baseline every other side is compared with.
type caseResult struct {
	name   string
	target target
	sides  []side
	times  [][]time.Duration
	cpu    [][]time.Duration
	faults [][]int64
}

// target is the most rro-runc may cost over another side of the same case
// (ms of the medians); zero ms when the issue sets none.
type target struct {
	ms      float64
	against string // the side's name
}

func newCaseResult(name string, target target, sides []side) *caseResult {
	k := len(sides)
	return &caseResult{name: name, target: target, sides: sides,
		times: make([][]time.Duration, k), cpu: make([][]time.Duration, k), faults: make([][]int64, k)}
}

func (r *caseResult) record(k int, u usage) {
	r.times[k] = append(r.times[k], u.wall)
	r.cpu[k] = append(r.cpu[k], u.cpu)
	r.faults[k] = append(r.faults[k], u.faults)
}

// measure runs n interleaved rounds. In round i the sides run in an order
// rotated by i and reversed every other round, so that each side takes
// each position equally often and a slow drift of the machine (another
// job, frequency scaling) lands on every side alike instead of on one.
func measure(name string, target target, sides []side, n, warmup int, s sample, f *fixture) (*caseResult, error) {
	r := newCaseResult(name, target, sides)
	one := func(k int, record bool) error {
		sd := sides[k]
		if s.before != nil {
			if err := s.before(sd); err != nil {
				return fmt.Errorf("%s, %s, before: %w", name, sd.name, err)
			}
		}
		u, err := f.runSide(sd, s.args(sd))
		if err != nil {
			return fmt.Errorf("%s, %s: %w", name, sd.name, err)
		}
		if record {
			r.record(k, u)
		}
		if s.after != nil {
			if err := s.after(sd); err != nil {
				return fmt.Errorf("%s, %s, after: %w", name, sd.name, err)
			}
		}
		return nil
	}
	for i := 0; i < warmup+n; i++ {
		for _, k := range order(len(sides), i) {
			if err := one(k, i >= warmup); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// order is the side order of round i.
func order(k, i int) []int {
	o := make([]int, k)
	for j := range o {
		o[j] = (i/2 + j) % k
	}
	if i%2 == 1 {
		slices.Reverse(o)
	}
	return o
}

// stats are in milliseconds.
type stats struct {
	n           int
	median, p90 float64
}

func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{median: math.NaN(), p90: math.NaN()}
	}
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	slices.Sort(ms)
	return stats{n: len(ms), median: quantile(ms, 0.5), p90: quantile(ms, 0.9)}
}

// quantile interpolates linearly between the closest ranks of sorted xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return xs[lo] + (xs[hi]-xs[lo])*(pos-float64(lo))
}

// medianFaults is the median of side k's minor page faults per call.
func medianFaults(r *caseResult, k int) float64 {
	xs := make([]float64, len(r.faults[k]))
	for i, v := range r.faults[k] {
		xs[i] = float64(v)
	}
	slices.Sort(xs)
	return quantile(xs, 0.5)
}

// pairedDelta is the median of the per-round differences side k minus the
// baseline: on a noisy machine it is steadier than the difference of the
// two medians because both calls of a round share the machine's mood.
func pairedDelta(r *caseResult, k int) float64 {
	a, b := r.times[0], r.times[k]
	n := min(len(a), len(b))
	if n == 0 {
		return math.NaN()
	}
	d := make([]float64, n)
	for i := range n {
		d[i] = float64(b[i]-a[i]) / float64(time.Millisecond)
	}
	slices.Sort(d)
	return quantile(d, 0.5)
}

// sideIndex is the index of the side named name; 0 (the baseline) when
// there is none, so a missing side reads as "against the baseline".
func (r *caseResult) sideIndex(name string) int {
	for k, s := range r.sides {
		if s.name == name {
			return k
		}
	}
	return 0
}
