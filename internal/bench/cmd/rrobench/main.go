// Command rrobench measures what rro-runc costs per call, side by side
// with direct runc, in one invocation: whole processes, started the way a
// container engine starts them, interleaved call by call so that the
// machine's noise falls on both sides alike.
//
// It times `--version`, `state` of a running container, `create` of a
// bundle with 20 mounts (5 of them rro candidates) with a warm and a cold
// probe cache, and `delete`; it counts under strace the processes and file
// opens rro-runc makes before it execs the runtime; and it reports the
// package init costs of rro-runc's start-up (GODEBUG=inittrace=1).
//
// Guarantees: everything it creates lives in a temporary directory and in
// a private `runc --root`, and is removed on exit; the one global thing it
// touches is the probe cache directory, which the cold case empties on
// purpose. It asserts correctness (rro-runc's output equals runc's, the 5
// candidates get rro, no process is started on a warm path), never timing.
//
// bench/run.sh builds and runs it; see bench/README.md.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	runc, wrapper, goFloor, cFloor string
	cacheDir, workParent           string
	out                            string
	smoke, placeholder             bool
	fastRuns, createRuns, coldRuns int
	initRuns                       int
	extra                          []side // -extra: variants to try side by side
	cases                          string // -cases: which timed cases run
	containerd                     string // directory of containerd 2.x, its shim and ctr (engine case)
	engineRuns, engineParallel     int
}

// want says whether the timed case key was asked for.
func (o *options) want(key string) bool {
	if o.cases == "" || o.cases == "all" {
		return true
	}
	for _, c := range strings.Split(o.cases, ",") {
		if strings.TrimSpace(c) == key {
			return true
		}
	}
	return false
}

func main() {
	var o options
	flag.StringVar(&o.runc, "runc", "", "the real runc (default: runc in PATH)")
	flag.StringVar(&o.wrapper, "wrapper", "bin/rro-runc", "the rro-runc binary")
	flag.StringVar(&o.goFloor, "execonly-go", "", "Go exec-only wrapper (bench/cmd/execonly); empty to skip")
	flag.StringVar(&o.cFloor, "execonly-c", "", "C exec-only wrapper (bench/floor/execonly.c); empty to skip")
	flag.StringVar(&o.cacheDir, "cache-dir", "", "rro-runc's probe cache (RRO_RUNC_CACHE_DIR), emptied for the cold case (default: a private one in the work dir)")
	flag.StringVar(&o.workParent, "dir", "/run", "where the bundle, rootfs and runc root are made: /run, where engines keep their bundles")
	flag.StringVar(&o.out, "out", "", "also write the Markdown report here (not in smoke mode)")
	flag.StringVar(&o.cases, "cases", "all", "timed cases to run, comma-separated: version,state,create,cold,rootless,engine (create includes delete)")
	flag.StringVar(&o.containerd, "containerd", ".cache/containerd-v2.4.2/bin", "directory holding containerd 2.x, containerd-shim-runc-v2 and ctr, for the engine case")
	flag.IntVar(&o.engineRuns, "engine-runs", 0, "rounds of the engine case, each mode (default 40, smoke 2)")
	flag.IntVar(&o.engineParallel, "engine-parallel", 4, "containers started at once in the engine case's parallel mode")
	flag.BoolVar(&o.smoke, "smoke", false, "a few runs of everything: checks that it works, no figures to trust")
	flag.BoolVar(&o.placeholder, "placeholder", false, "the wrapper is not rro-runc (harness development): skip the rro checks")
	flag.IntVar(&o.fastRuns, "runs", 0, "runs of each fast case (default 500, smoke 5)")
	flag.IntVar(&o.createRuns, "create-runs", 0, "runs of the warm create case (default 100, smoke 3)")
	flag.IntVar(&o.coldRuns, "cold-runs", 0, "runs of the cold create case (default 60, smoke 2)")
	flag.IntVar(&o.initRuns, "init-runs", 0, "runs under GODEBUG=inittrace=1 (default 101, smoke 3)")
	flag.Func("extra", "`NAME=PATH` of another wrapper to time beside the others (repeatable); it gets rro-runc's environment and RROBENCH_RUNTIME", func(v string) error {
		name, path, ok := strings.Cut(v, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("want NAME=PATH, got %q", v)
		}
		p, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		if _, err := os.Stat(p); err != nil {
			return err
		}
		o.extra = append(o.extra, side{name: name, path: p})
		return nil
	})
	flag.Parse()
	if err := run(&o); err != nil {
		fmt.Fprintln(os.Stderr, "rrobench:", err)
		os.Exit(1)
	}
}

func defaults(o *options) error {
	for _, c := range strings.Split(o.cases, ",") {
		switch strings.TrimSpace(c) {
		case "all", "version", "state", "create", "cold", "rootless", "engine":
		default:
			return fmt.Errorf("-cases: unknown case %q (want version, state, create, cold, rootless, engine or all)", c)
		}
	}
	pick := func(v *int, full, smoke int) {
		if *v <= 0 {
			*v = full
			if o.smoke {
				*v = smoke
			}
		}
	}
	pick(&o.fastRuns, 500, 5)
	pick(&o.createRuns, 100, 3)
	pick(&o.coldRuns, 60, 2)
	pick(&o.initRuns, 101, 3)
	pick(&o.engineRuns, 40, 2)
	if o.engineParallel < 2 {
		o.engineParallel = 2
	}
	if o.runc == "" {
		p, err := exec.LookPath("runc")
		if err != nil {
			return fmt.Errorf("runc not in PATH; pass -runc: %w", err)
		}
		o.runc = p
	}
	var err error
	if o.containerd, err = filepath.Abs(o.containerd); err != nil {
		return err
	}
	for _, p := range []*string{&o.runc, &o.wrapper, &o.goFloor, &o.cFloor} {
		if *p == "" {
			continue
		}
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
		if _, err := os.Stat(*p); err != nil {
			return err
		}
	}
	if os.Geteuid() != 0 {
		return errors.New("must run as root (runc create)")
	}
	return nil
}

func run(o *options) error {
	if err := defaults(o); err != nil {
		return err
	}
	strace, err := findStrace()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(o.workParent, "rrobench-")
	if err != nil {
		return err
	}
	f, err := newFixture(dir, o.runc)
	if f != nil {
		defer f.cleanup()
	} else {
		defer os.RemoveAll(dir)
	}
	if err != nil {
		return err
	}
	// An interrupted run must still delete its containers.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "rrobench: interrupted, cleaning up")
		f.cleanup()
		os.Exit(130)
	}()

	rep := &report{opts: o, machine: describeMachine(o.runc, o.workParent), start: time.Now()}
	// A private probe cache: emptying the shared /run/rro-runc for the
	// cold case would race with anything else using rro-runc on the machine.
	privateCache := o.cacheDir == ""
	if privateCache {
		o.cacheDir = filepath.Join(dir, "probe-cache")
	}
	base := cleanEnv()
	rroEnv := append(clone(base), "RRO_RUNC_CONFIG="+f.toml, "RRO_RUNC_CACHE_DIR="+o.cacheDir)
	sRunc := side{name: "runc", path: o.runc, env: base}
	sRro := side{name: "rro-runc", path: o.wrapper, env: append(clone(rroEnv), "RRO_RUNC_RUNTIME="+o.runc)}
	sRroFile := side{name: "rro-runc, runtime from config file", path: o.wrapper, env: clone(rroEnv)}
	if o.placeholder { // a stand-in for rro-runc that needs to be told what to exec
		sRro.env = append(sRro.env, "RROBENCH_RUNTIME="+o.runc)
		sRroFile.env = append(sRroFile.env, "RROBENCH_RUNTIME="+o.runc)
	}
	// createSides skips the C floor: one floor is enough where a call
	// costs 20 ms and runs 100 times, and the Go one is the telling one.
	floors, createSides := []side{}, []side{sRunc, sRro}
	if o.goFloor != "" {
		floors = append(floors, side{name: "Go exec-only (floor)", path: o.goFloor, env: append(clone(base), "RROBENCH_RUNTIME="+o.runc)})
		createSides = append(createSides, floors[0])
	}
	if o.cFloor != "" {
		floors = append(floors, side{name: "C exec-only (floor)", path: o.cFloor, env: append(clone(base), "RROBENCH_RUNTIME="+o.runc)})
	}
	for _, x := range o.extra {
		x.env = append(clone(sRro.env), "RROBENCH_RUNTIME="+o.runc)
		floors = append(floors, x)
		createSides = append(createSides, x)
	}

	if err := f.startStateContainer(); err != nil {
		return fmt.Errorf("starting the container for state: %w", err)
	}
	if err := checks(o, f, sRunc, sRro, sRroFile); err != nil {
		return fmt.Errorf("check failed: %w", err)
	}
	// runc on the config rro-runc wrote: the create case then splits what
	// the wrapper costs from what the rro mounts themselves cost runc.
	const runcRewritten = "runc, config already rewritten"
	if f.rewritten != nil {
		createSides = append(createSides[:1], append([]side{{name: runcRewritten, path: o.runc, env: base}}, createSides[1:]...)...)
	}
	if _, err := os.Stat(o.cacheDir); privateCache && !o.placeholder && err != nil {
		// A build without RRO_RUNC_CACHE_DIR: the cold case must empty the
		// cache it really uses.
		o.cacheDir = "/run/rro-runc"
		rep.notes = append(rep.notes, "rro-runc ignored RRO_RUNC_CACHE_DIR, so the cold case emptied /run/rro-runc, which anything else running rro-runc on this machine shares.")
		fmt.Fprintln(os.Stderr, "rrobench: warning:", rep.notes[len(rep.notes)-1])
	}
	progress := func(s string) { fmt.Fprintf(os.Stderr, "rrobench: %s\n", s) }
	warmup := 3
	if o.smoke {
		warmup = 1
	}

	fast := append([]side{sRunc, sRro, sRroFile}, floors...)
	// The pass-through target is rro-runc's own share: its median minus the
	// Go exec-only floor's, same build flags, same run (issue 12). Without
	// a floor there is nothing to hold it against.
	passTarget := target{}
	if o.goFloor != "" {
		passTarget = target{ms: 0.1, against: floors[0].name}
	}
	if o.want("version") {
		progress(fmt.Sprintf("--version, %d runs x %d sides", o.fastRuns, len(fast)))
		r, err := measure("`--version`", passTarget, fast, o.fastRuns, warmup, sample{args: func(side) []string { return []string{"--version"} }}, f)
		if err != nil {
			return err
		}
		rep.cases = append(rep.cases, r)
	}

	stateArgs := []string{"--root", f.root, "state", f.stateID}
	if o.want("state") {
		progress(fmt.Sprintf("state, %d runs x %d sides", o.fastRuns, len(fast)))
		r, err := measure("`state ID` (running)", passTarget, fast, o.fastRuns, warmup, sample{args: func(side) []string { return stateArgs }}, f)
		if err != nil {
			return err
		}
		rep.cases = append(rep.cases, r)
	}

	ids := map[string]string{}
	for i, s := range createSides {
		ids[s.name] = fmt.Sprintf("%s-c%d", f.prefix, i)
		f.running = append(f.running, ids[s.name])
	}
	createArgs := func(s side) []string {
		return f.runcArgs("create", "--bundle", f.bundle, "--pid-file", filepath.Join(f.bundle, "init.pid"), ids[s.name])
	}
	del := newCaseResult("`delete ID` (created)", target{}, createSides)
	deleteAfter := func(record *bool) func(s side) error {
		return func(s side) error {
			u, err := f.run(s.path, f.runcArgs("delete", ids[s.name]), s.env)
			if err == nil && *record {
				for k := range createSides {
					if createSides[k].name == s.name {
						del.record(k, u)
					}
				}
			}
			return err
		}
	}
	// The delete samples are recorded for the warm case's timed rounds only;
	// counting calls tells warm-up from timed rounds.
	calls, recordDeletes := 0, false
	warmBefore := func(s side) error {
		calls++
		recordDeletes = calls > warmup*len(createSides)
		if s.name == runcRewritten {
			return os.WriteFile(f.config, f.rewritten, 0o644)
		}
		return f.restoreConfig()
	}
	if o.want("create") {
		progress(fmt.Sprintf("create+delete, warm cache, %d runs x %d sides", o.createRuns, len(createSides)))
		// create's target holds rro-runc against runc creating the config
		// rro-runc already rewrote: the rro mounts' own cost is runc's.
		createTarget := target{ms: 1.5, against: "runc"}
		if f.rewritten != nil {
			createTarget.against = runcRewritten
		}
		r, err := measure(fmt.Sprintf("`create`, %d mounts (%d rro), warm cache", totalMounts, rewritable), createTarget, createSides, o.createRuns, warmup,
			sample{before: warmBefore, args: createArgs, after: deleteAfter(&recordDeletes)}, f)
		if err != nil {
			return err
		}
		rep.cases = append(rep.cases, r, del)
	}

	coldSides := []side{sRunc, sRro}
	coldBefore := func(side) error {
		if err := os.RemoveAll(o.cacheDir); err != nil {
			return err
		}
		return f.restoreConfig()
	}
	noRecord := false
	if o.want("cold") {
		progress(fmt.Sprintf("create+delete, cold cache, %d runs x %d sides", o.coldRuns, len(coldSides)))
		r, err := measure(fmt.Sprintf("`create`, %d mounts (%d rro), cold cache", totalMounts, rewritable), target{}, coldSides, o.coldRuns, 1,
			sample{before: coldBefore, args: createArgs, after: deleteAfter(&noRecord)}, f)
		if err != nil {
			return err
		}
		rep.cases = append(rep.cases, r)
	}

	if o.want("rootless") {
		if err := rootlessCase(o, f, rep, strace, warmup, progress); err != nil {
			return err
		}
	}

	if o.want("engine") {
		rep.engine, err = engineCase(o, f, o.cacheDir, progress)
		if err != nil {
			return err
		}
	}

	progress("counting under strace")
	if err := countAll(rep, f, strace, o, sRro, sRroFile, stateArgs, createArgs, ids); err != nil {
		return err
	}

	progress(fmt.Sprintf("GODEBUG=inittrace=1, %d runs", o.initRuns))
	// /bin/true as the runtime: it is not a Go program, so every inittrace
	// line is the wrapper's.
	trueBin, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	initEnv := append(clone(base), "RRO_RUNC_RUNTIME="+trueBin, "RRO_RUNC_CONFIG="+f.toml)
	if o.placeholder {
		initEnv = append(initEnv, "RROBENCH_RUNTIME="+trueBin)
	}
	rep.initWrapper, err = traceInit(o.wrapper, []string{"--version"}, initEnv, o.initRuns)
	if err != nil {
		return err
	}
	if o.goFloor != "" {
		rep.initFloor, err = traceInit(o.goFloor, []string{"--version"}, append(clone(base), "RROBENCH_RUNTIME="+trueBin), o.initRuns)
		if err != nil {
			return err
		}
	}
	rep.wrapperSize = fileSize(o.wrapper)
	rep.wrapperDeps = goDeps(o.wrapper)

	var md bytes.Buffer
	rep.write(&md)
	os.Stdout.Write(md.Bytes())
	if o.out != "" && !o.smoke {
		if err := os.WriteFile(o.out, md.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "rrobench: wrote %s\n", o.out)
	}
	return rep.verdict()
}

// checks makes sure the two sides do the same thing before timing them:
// same --version, same state, and rro-runc's create really adds rro.
func checks(o *options, f *fixture, sRunc, sRro, sRroFile side) error {
	a, err := f.output(sRunc.path, []string{"--version"}, sRunc.env)
	if err != nil {
		return err
	}
	for _, s := range []side{sRro, sRroFile} {
		b, err := f.output(s.path, []string{"--version"}, s.env)
		if err != nil {
			return err
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("%s --version printed %q, runc printed %q", s.name, b, a)
		}
		out, err := f.output(s.path, []string{"--root", f.root, "state", f.stateID}, s.env)
		if err != nil {
			return err
		}
		if !bytes.Contains(out, []byte(`"status": "running"`)) {
			return fmt.Errorf("%s state %s: not running: %s", s.name, f.stateID, out)
		}
	}
	if o.placeholder {
		return nil
	}
	id := f.prefix + "-check"
	f.running = append(f.running, id)
	if err := f.restoreConfig(); err != nil {
		return err
	}
	if _, err := f.run(sRro.path, f.runcArgs("create", "--bundle", f.bundle, id), sRro.env); err != nil {
		return err
	}
	n, err := f.rroMounts()
	if err != nil {
		return err
	}
	if n != rewritable {
		return fmt.Errorf("after rro-runc create, %d mounts of %s have rro; want the %d rbind,ro host binds", n, f.config, rewritable)
	}
	if f.rewritten, err = os.ReadFile(f.config); err != nil {
		return err
	}
	if st, err := f.containerStatus(id); err != nil || st != "created" {
		return fmt.Errorf("after rro-runc create, container %s is %q (%v); want created", id, st, err)
	}
	_, err = f.run(sRro.path, f.runcArgs("delete", id), sRro.env)
	return err
}

// countAll traces one call of each kind; the create calls run with the
// cache warm (after the warm case) and then cold.
func countAll(rep *report, f *fixture, strace string, o *options, sRro, sRroFile side, stateArgs []string, createArgs func(side) []string, ids map[string]string) error {
	type call struct {
		name     string
		s        side
		args     []string
		before   func() error
		after    func() error
		mustZero bool
	}
	deleteRro := func() error { _, err := f.run(sRro.path, f.runcArgs("delete", ids[sRro.name]), sRro.env); return err }
	warm := func() error {
		if err := f.restoreConfig(); err != nil {
			return err
		}
		// Make sure the cache is warm whatever ran before.
		if _, err := f.run(sRro.path, createArgs(sRro), sRro.env); err != nil {
			return err
		}
		if err := deleteRro(); err != nil {
			return err
		}
		return f.restoreConfig()
	}
	cold := func() error {
		if err := os.RemoveAll(o.cacheDir); err != nil {
			return err
		}
		return f.restoreConfig()
	}
	created := func() error { // a container for delete to delete
		if err := f.restoreConfig(); err != nil {
			return err
		}
		_, err := f.run(sRro.path, createArgs(sRro), sRro.env)
		return err
	}
	calls := []call{
		{name: "`--version`", s: sRro, args: []string{"--version"}, mustZero: true},
		{name: "`state ID`", s: sRro, args: stateArgs, mustZero: true},
		{name: "`state ID`, runtime from config file", s: sRroFile, args: stateArgs, mustZero: true},
		{name: "`delete ID`", s: sRro, args: f.runcArgs("delete", ids[sRro.name]), before: created, mustZero: true},
		{name: "`create`, warm cache", s: sRro, args: createArgs(sRro), before: warm, after: deleteRro, mustZero: true},
		{name: "`create`, cold cache", s: sRro, args: createArgs(sRro), before: cold, after: deleteRro},
	}
	for _, c := range calls {
		if c.before != nil {
			if err := c.before(); err != nil {
				return fmt.Errorf("counting %s: %w", c.name, err)
			}
		}
		cnt, err := traceCall(f, strace, c.s, c.args)
		if err != nil {
			return fmt.Errorf("counting %s: %w", c.name, err)
		}
		if c.after != nil {
			if err := c.after(); err != nil {
				return fmt.Errorf("counting %s: %w", c.name, err)
			}
		}
		rep.counts = append(rep.counts, countRow{name: c.name, c: cnt, mustZero: c.mustZero && !o.placeholder, want: o.runc})
	}
	return nil
}

// cleanEnv is the caller's environment without rro-runc's own variables,
// so that a setting of the person running the benchmark cannot leak in.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RRO_RUNC_") || strings.HasPrefix(kv, "GODEBUG=") || strings.HasPrefix(kv, "RROBENCH_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func clone(s []string) []string { return append([]string(nil), s...) }

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// goDeps lists the modules linked into a Go binary (`go version -m`).
func goDeps(p string) []string {
	out, err := exec.Command("go", "version", "-m", p).Output()
	if err != nil {
		return nil
	}
	var deps []string
	for _, line := range strings.Split(string(out), "\n") {
		fs := strings.Fields(line)
		if len(fs) >= 3 && fs[0] == "dep" {
			deps = append(deps, fs[1]+" "+fs[2])
		}
	}
	return deps
}
