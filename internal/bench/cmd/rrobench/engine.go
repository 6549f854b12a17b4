package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The engine case answers the question users ask: how many containers a
// second does a node start through containerd with rro-runc, against the
// same containerd asking runc for rro itself. It runs `ctr run --rm` of a
// /bin/true container whose read-only bind holds a tmpfs submount, through
// a private containerd 2.x (no CRI, all state under the work directory),
// three ways, interleaved round by round:
//
//   - runc, plain ro: unprotected, the baseline of what a container costs;
//   - runc, rro asked natively (`options=rbind:ro:rro`): the same protection
//     with no wrapper, what Docker 25+ or containerd's own rro would give;
//   - rro-runc: plain ro asked, rro-runc makes it rro.
//
// CPU per container is the cpuacct usage of containerd's cgroup (the
// daemon, every shim and every runtime call it starts) plus ctr's own.
type engineSide struct {
	name    string
	runtime string // --runc-binary
	options string // --mount options
	protect bool   // the submount must come out read-only
}

type engineResult struct {
	mode    string // "sequential" or "N in parallel"
	sides   []engineSide
	per     [][]time.Duration // per side: wall time per container (a batch's wall / batch size)
	cpu     [][]time.Duration // per side: CPU per container
	batch   int
	calls   []string // runtime calls one container costs (through rro-runc)
	ctrdVer string
}

type engine struct {
	bin     string // directory with containerd, containerd-shim-runc-v2, ctr
	dir     string
	addr    string
	cmd     *exec.Cmd
	cgroup  string // cpuacct cgroup holding containerd and its children
	vol     string
	rootfs  string
	env     []string // containerd's environment, which shims and runtimes inherit
	version string
	seq     int
}

// startEngine starts a private containerd from o.containerd, with
// rro-runc's settings in its environment (shims and runtimes inherit it).
func startEngine(o *options, f *fixture, cacheDir string) (*engine, error) {
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		if _, err := os.Stat(filepath.Join(o.containerd, b)); err != nil {
			return nil, fmt.Errorf("engine case: %w (e2e/setup.sh builds containerd 2.x into .cache; or pass -containerd DIR, or -cases without engine)", err)
		}
	}
	e := &engine{bin: o.containerd, dir: filepath.Join(f.dir, "containerd"), rootfs: f.rootfs}
	e.addr = filepath.Join(e.dir, "c.sock")
	e.vol = filepath.Join(e.dir, "vol")
	if err := os.MkdirAll(filepath.Join(e.vol, "sub"), 0o755); err != nil {
		return nil, err
	}
	if err := syscall.Mount("tmpfs", filepath.Join(e.vol, "sub"), "tmpfs", 0, "size=1m"); err != nil {
		return nil, fmt.Errorf("engine case: tmpfs under the volume: %w", err)
	}
	cfg := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(e.dir, "root"), filepath.Join(e.dir, "state"), e.addr, e.addr+".ttrpc")
	cfgPath := filepath.Join(e.dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	e.env = append(cleanEnv(), "PATH="+e.bin+":"+os.Getenv("PATH"),
		"RRO_RUNC_CONFIG="+f.toml, "RRO_RUNC_RUNTIME="+f.runc, "RRO_RUNC_CACHE_DIR="+cacheDir)
	logf, err := os.Create(filepath.Join(e.dir, "containerd.log"))
	if err != nil {
		return nil, err
	}
	e.cmd = exec.Command(filepath.Join(e.bin, "containerd"), "-c", cfgPath)
	e.cmd.Env, e.cmd.Stdout, e.cmd.Stderr = e.env, logf, logf
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	e.cgroup = filepath.Join("/sys/fs/cgroup/cpuacct", filepath.Base(f.dir))
	if err := os.Mkdir(e.cgroup, 0o755); err == nil {
		if err := os.WriteFile(filepath.Join(e.cgroup, "cgroup.procs"), []byte(strconv.Itoa(e.cmd.Process.Pid)), 0); err != nil {
			os.Remove(e.cgroup)
			e.cgroup = ""
		}
	} else {
		e.cgroup = ""
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := e.ctr("version").CombinedOutput()
		if err == nil {
			for _, l := range strings.Split(string(out), "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && k == "Version" && e.version == "" {
					e.version = strings.TrimSpace(v)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			e.stop()
			return nil, fmt.Errorf("engine case: containerd did not answer within 20 s: %s (log %s)", out, logf.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return e, nil
}

func (e *engine) ctr(args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(e.bin, "ctr"), append([]string{"--address", e.addr}, args...)...)
	c.Env = e.env
	return c
}

// runArgs is one `ctr run --rm` of /bin/true (or of cmd when given).
func (e *engine) runArgs(s engineSide, id string, cmd ...string) []string {
	if len(cmd) == 0 {
		cmd = []string{"/bin/true"}
	}
	return append([]string{"run", "--rm", "--runc-binary", s.runtime,
		"--runc-root", filepath.Join(e.dir, "runc"), "--fifo-dir", filepath.Join(e.dir, "fifo"),
		"--mount", "type=bind,src=" + e.vol + ",dst=/vol,options=" + s.options,
		"--rootfs", e.rootfs, id}, cmd...)
}

func (e *engine) nextID() string {
	e.seq++
	return fmt.Sprintf("rrobench-%d-%d", os.Getpid(), e.seq)
}

// cpuUsage is the cumulative CPU of containerd's cgroup, 0 without one.
func (e *engine) cpuUsage() time.Duration {
	if e.cgroup == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(e.cgroup, "cpuacct.usage"))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return time.Duration(n)
}

// batch runs n containers of side s at once and returns the wall time per
// container and the CPU (containerd's cgroup plus the ctr clients) per
// container.
func (e *engine) batch(s engineSide, n int) (time.Duration, time.Duration, error) {
	cpu0 := e.cpuUsage()
	var wg sync.WaitGroup
	errs := make([]error, n)
	ctrCPU := make([]time.Duration, n)
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmds[i] = e.ctr(e.runArgs(s, e.nextID())...)
	}
	start := time.Now()
	for i, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			c.Stdout, c.Stderr = &out, &out
			if err := c.Run(); err != nil {
				errs[i] = fmt.Errorf("%s: ctr %s: %w: %s", s.name, strings.Join(c.Args[1:], " "), err, out.Bytes())
				return
			}
			ctrCPU[i] = c.ProcessState.UserTime() + c.ProcessState.SystemTime()
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	cpu := e.cpuUsage() - cpu0
	for _, c := range ctrCPU {
		cpu += c
	}
	return wall / time.Duration(n), cpu / time.Duration(n), nil
}

// probe runs the in-container check once and says whether the submount
// came out read-only.
func (e *engine) probe(s engineSide) (bool, error) {
	out, err := e.ctr(e.runArgs(s, e.nextID(), "/bin/sh", "-c",
		"if /bin/touch /vol/sub/x 2>/dev/null; then echo SUB-WRITABLE; else echo SUB-READONLY; fi")...).CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("%s: %w: %s", s.name, err, out)
	}
	switch {
	case bytes.Contains(out, []byte("SUB-READONLY")):
		return true, nil
	case bytes.Contains(out, []byte("SUB-WRITABLE")):
		return false, nil
	}
	return false, fmt.Errorf("%s: the probe printed %q", s.name, out)
}

// countCalls runs one container through a shim that records each runtime
// call before exec'ing rro-runc: what one container costs in runtime
// starts. Not timed.
func (e *engine) countCalls(wrapper string) ([]string, error) {
	logPath := filepath.Join(e.dir, "calls.log")
	shim := filepath.Join(e.dir, "count-runtime")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >>%s\nexec %s \"$@\"\n", logPath, wrapper)
	if err := os.WriteFile(shim, []byte(script), 0o755); err != nil {
		return nil, err
	}
	s := engineSide{name: "count", runtime: shim, options: "rbind:ro"}
	if _, _, err := e.batch(s, 1); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		return nil, err
	}
	var calls []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		calls = append(calls, runtimeCall(strings.Fields(line)))
	}
	return calls, nil
}

// runtimeCall names a runc call by its subcommand, skipping the global
// flags (and the values of those that take one), and marks a forced delete.
func runtimeCall(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			switch strings.TrimLeft(a, "-") {
			case "root", "log", "log-format", "criu", "rootless":
				i++
			}
			continue
		}
		if a == "delete" && slices.ContainsFunc(args[i+1:], func(s string) bool { return s == "--force" || s == "-f" || s == "--force=true" }) {
			return "delete --force"
		}
		return a
	}
	return "(none)"
}

func (e *engine) stop() {
	if e.cmd != nil && e.cmd.Process != nil {
		e.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { e.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			e.cmd.Process.Kill()
			<-done
		}
	}
	// Shims outlive a stopped containerd by design; they hold the ttrpc
	// socket under e.dir. Kill those of this containerd (by address).
	killShims(e.addr)
	syscall.Unmount(filepath.Join(e.vol, "sub"), syscall.MNT_DETACH)
	if e.cgroup != "" {
		os.Remove(e.cgroup)
	}
}

// killShims kills the containerd-shim-runc-v2 processes started for the
// containerd at addr (their argv carries -address addr).
func killShims(addr string) {
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte("containerd-shim")) || !bytes.Contains(b, []byte(addr)) {
			continue
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// engineCase measures the three sides sequentially and in batches of
// o.engineParallel, interleaved: in every round each side runs once, in the
// rotating order measure uses.
func engineCase(o *options, f *fixture, cacheDir string, progress func(string)) ([]*engineResult, error) {
	e, err := startEngine(o, f, cacheDir)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	sides := []engineSide{
		{name: "runc, plain ro (unprotected)", runtime: f.runc, options: "rbind:ro"},
		{name: "runc, rro asked natively", runtime: f.runc, options: "rbind:ro:rro", protect: true},
		{name: "rro-runc", runtime: o.wrapper, options: "rbind:ro", protect: true},
	}
	for _, s := range sides {
		ro, err := e.probe(s)
		if err != nil {
			return nil, fmt.Errorf("engine case: %w", err)
		}
		if ro != s.protect {
			return nil, fmt.Errorf("engine case: %s: submount read-only = %v, want %v", s.name, ro, s.protect)
		}
	}
	calls, err := e.countCalls(o.wrapper)
	if err != nil {
		return nil, fmt.Errorf("engine case: counting runtime calls: %w", err)
	}
	var results []*engineResult
	for _, par := range []int{1, o.engineParallel} {
		mode := "sequential"
		if par > 1 {
			mode = fmt.Sprintf("%d in parallel", par)
		}
		progress(fmt.Sprintf("engine: ctr run --rm, %s, %d rounds x %d sides", mode, o.engineRuns, len(sides)))
		r := &engineResult{mode: mode, sides: sides, batch: par, calls: calls, ctrdVer: e.version,
			per: make([][]time.Duration, len(sides)), cpu: make([][]time.Duration, len(sides))}
		warmup := 2
		if o.smoke {
			warmup = 1
		}
		for i := 0; i < warmup+o.engineRuns; i++ {
			for _, k := range order(len(sides), i) {
				wall, cpu, err := e.batch(sides[k], par)
				if err != nil {
					return nil, fmt.Errorf("engine case: %w", err)
				}
				if i >= warmup {
					r.per[k] = append(r.per[k], wall)
					r.cpu[k] = append(r.cpu[k], cpu)
				}
			}
		}
		results = append(results, r)
	}
	return results, nil
}

// writeEngine adds the engine tables to the report. Throughput is the
// reciprocal of the median time per container; the ratio compares each
// side with runc asked for rro natively (same protection, no wrapper).
func writeEngine(w io.Writer, rs []*engineResult, wrapperShare string) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Containers per second through containerd %s (`ctr run --rm` of /bin/true, a read-only bind holding a tmpfs)\n\n", rs[0].ctrdVer)
	fmt.Fprintf(w, "Interleaved round by round. Time per container is a batch's wall time divided by its size; containers/s is 1 / its median. CPU is containerd's cpuacct cgroup (daemon, shims, runtime calls) plus ctr, per container. One container costs %d runtime calls through the shim: %s. Target: rro-runc at least 0.94 of native.\n\n",
		len(rs[0].calls), strings.Join(rs[0].calls, ", "))
	fmt.Fprintf(w, "| mode | side | rounds | ms/container (median) | p90 | containers/s | vs native rro | CPU ms/container | verdict |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		native := summarize(r.per[1]).median
		for k, s := range r.sides {
			st := summarize(r.per[k])
			ratio := native / st.median
			verdict := ""
			if s.name == "rro-runc" {
				verdict = "≥ 0.94: met"
				if ratio < 0.94 {
					verdict = fmt.Sprintf("≥ 0.94: **missed (%.3f)**", ratio)
				}
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %.1f | %.3f | %s | %s |\n", r.mode, s.name, st.n, ms(st.median), ms(st.p90),
				1000*float64(r.batch)/(st.median*float64(r.batch)), ratio, ms(summarize(r.cpu[k]).median), verdict)
		}
	}
	if wrapperShare != "" {
		fmt.Fprintf(w, "\n%s\n", wrapperShare)
	}
}
