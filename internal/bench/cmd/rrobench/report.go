package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type machine struct {
	nproc                              int
	kernel, cpu, runc, load, goVersion string
	commit                             string
	workFS                             string // filesystem of the work directory: what a write and fsync cost depends on it
}

func describeMachine(runc, workParent string) machine {
	m := machine{nproc: runtime.NumCPU(), goVersion: runtime.Version(), workFS: fsType(workParent)}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command(runc, "--version").Output(); err == nil {
		m.runc = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	m.load = loadAvg()
	if out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fs := strings.Fields(string(b))
	if len(fs) < 3 {
		return "unknown"
	}
	return strings.Join(fs[:3], " ")
}

// fsType names the filesystem dir is on, from the mount table.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown filesystem"
	}
	switch st.Type {
	case 0x01021994:
		return "tmpfs"
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794c7630:
		return "overlayfs"
	}
	return fmt.Sprintf("filesystem magic %#x", st.Type)
}

type countRow struct {
	name     string
	c        counts
	mustZero bool   // no process and no other execve may happen on this path
	want     string // the runtime it must exec
}

type report struct {
	opts        *options
	machine     machine
	start       time.Time
	cases       []*caseResult
	counts      []countRow
	initWrapper initReport
	initFloor   initReport
	wrapperSize int64
	wrapperDeps []string
	notes       []string
	engine      []*engineResult
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func signed(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%+.2f", v)
}

func (r *report) write(w io.Writer) {
	o, m := r.opts, r.machine
	mode := "full run"
	if o.smoke {
		mode = "SMOKE run: a few calls each, the figures are not to be trusted"
	}
	fmt.Fprintf(w, "## rro-runc benchmark (%s)\n\n", mode)
	fmt.Fprintf(w, "- Machine: %d CPUs, %s, Linux %s; load average %s at start, %s at the end (other work on the machine shows here)\n", m.nproc, m.cpu, m.kernel, m.load, loadAvg())
	fmt.Fprintf(w, "- Bundle, rootfs and runc root under %s (%s)\n", o.workParent, m.workFS)
	fmt.Fprintf(w, "- Runtime: %s (`%s`); rro-runc %s, built by `make build`; harness %s\n", m.runc, o.runc, m.commit, m.goVersion)
	fmt.Fprintf(w, "- Date: %s, took %s\n", r.start.UTC().Format(time.RFC3339), time.Since(r.start).Round(time.Second))
	fmt.Fprintf(w, "- Reproduce: `make bench` (smoke: `make bench-smoke`)\n")
	for _, n := range r.notes {
		fmt.Fprintf(w, "- Note: %s\n", n)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "### Time per call, whole process, interleaved (ms)\n\n")
	fmt.Fprintf(w, "Every side of a case runs in the same rounds, in rotating order. Δ is the difference of the medians against direct runc; paired Δ is the median of the per-round differences. CPU (user+system ms) and minor page faults are medians for the whole process, runtime included. In the create case, *runc, config already rewritten* runs runc directly on the config.json rro-runc wrote: the difference to plain runc is what the rro mounts cost runc itself, and rro-runc minus that side is the wrapper's own cost.\n\n")
	fmt.Fprintf(w, "| case | side | runs | median | p90 | Δ median | paired Δ | ratio | target | CPU | faults |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
	for _, c := range r.cases {
		base := summarize(c.times[0])
		for k, s := range c.sides {
			st := summarize(c.times[k])
			cpu := ms(summarize(c.cpu[k]).median)
			faults := fmt.Sprintf("%.0f", medianFaults(c, k))
			if k == 0 {
				fmt.Fprintf(w, "| %s | %s | %d | %s | %s | | | | | %s | %s |\n", c.name, s.name, st.n, ms(st.median), ms(st.p90), cpu, faults)
				continue
			}
			target := ""
			if c.target.ms > 0 && strings.HasPrefix(s.name, "rro-runc") {
				against := summarize(c.times[c.sideIndex(c.target.against)]).median
				verdict := "met"
				if d := st.median - against; d > c.target.ms {
					verdict = fmt.Sprintf("**missed by %.2f**", d-c.target.ms)
				}
				target = fmt.Sprintf("%+.2f over %s, ≤ +%.1f: %s", st.median-against, c.target.against, c.target.ms, verdict)
			}
			fmt.Fprintf(w, "| | %s | %d | %s | %s | %s | %s | %.2fx | %s | %s | %s |\n", s.name, st.n, ms(st.median), ms(st.p90),
				signed(st.median-base.median), signed(pairedDelta(c, k)), st.median/base.median, target, cpu, faults)
		}
	}

	writeEngine(w, r.engine, "")

	fmt.Fprintf(w, "\n### Counted, not timed (strace -f, rro-runc's own process up to its execve of the runtime)\n\n")
	fmt.Fprintf(w, "| call | processes started | other execve | threads | files opened | then exec'd |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---|\n")
	for _, c := range r.counts {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | `%s` |\n", c.name, c.c.processes, len(c.c.execs), c.c.threads, len(c.c.opens), c.c.runtime)
	}
	fmt.Fprintf(w, "\nFiles opened and processes run, per call:\n\n")
	for _, c := range r.counts {
		fmt.Fprintf(w, "- %s:", c.name)
		if len(c.c.opens)+len(c.c.execs) == 0 {
			fmt.Fprintf(w, " nothing\n")
			continue
		}
		fmt.Fprintln(w)
		for _, p := range c.c.opens {
			fmt.Fprintf(w, "  - open `%s`\n", p)
		}
		for _, e := range c.c.execs {
			fmt.Fprintf(w, "  - execve `%s`\n", e)
		}
	}

	fmt.Fprintf(w, "\n### Start-up: GODEBUG=inittrace=1 on `rro-runc --version` (%d runs, medians)\n\n", r.initWrapper.runs)
	fmt.Fprintf(w, "Binary: %d KiB. Sum of init clocks %s ms, %d bytes, %d allocs; the last init ends at @%s ms after the runtime started.",
		r.wrapperSize/1024, ms(r.initWrapper.total), r.initWrapper.bytes, r.initWrapper.allocs, ms(r.initWrapper.lastInit))
	if r.initFloor.runs > 0 {
		fmt.Fprintf(w, " The Go exec-only floor: %s ms, %d bytes, %d allocs, last init @%s ms.",
			ms(r.initFloor.total), r.initFloor.bytes, r.initFloor.allocs, ms(r.initFloor.lastInit))
	}
	fmt.Fprintf(w, "\n\n| package | clock (ms) | @ (ms) | bytes | allocs |\n|---|---:|---:|---:|---:|\n")
	for _, p := range r.initWrapper.pkgs {
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %d | %d |\n", p.pkg, p.clock, p.at, p.bytes, p.allocs)
	}
	if len(r.wrapperDeps) > 0 {
		fmt.Fprintf(w, "\nModules linked into rro-runc: %s.\n", strings.Join(r.wrapperDeps, ", "))
	}
}

// verdict fails the run for what must never happen, whatever the timing:
// a process or a foreign execve on a path that must only exec the runtime,
// or a wrapper that never exec'd the runtime.
func (r *report) verdict() error {
	var errs []error
	for _, c := range r.counts {
		if c.c.runtime != c.want {
			errs = append(errs, fmt.Errorf("%s: rro-runc exec'd %q, want %q", c.name, c.c.runtime, c.want))
		}
		if c.mustZero && (c.c.processes > 0 || len(c.c.execs) > 0) {
			var b bytes.Buffer
			for _, e := range c.c.execs {
				b.WriteString("; " + e)
			}
			errs = append(errs, fmt.Errorf("%s: rro-runc started %d processes before exec'ing the runtime, want none%s", c.name, c.c.processes, b.String()))
		}
	}
	return errors.Join(errs...)
}
