package nri

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// Environment knobs of TestBenchPodsPerSecond. The defaults are a smoke
// run (every variant works, numbers printed); the figures in
// docs/nri.md come from a longer run, e.g.
// RRO_NRI_BENCH_ROUNDS=30 RRO_NRI_BENCH_PER_ROUND=1.
const (
	envBenchRounds   = "RRO_NRI_BENCH_ROUNDS"
	envBenchPerRound = "RRO_NRI_BENCH_PER_ROUND"
)

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestBenchPodsPerSecond measures containers per second through crictl
// (create, start, wait for exit, remove a /bin/true container in an
// existing sandbox) for four ways of mounting a read-only volume holding
// nested tmpfs mounts, interleaved round by round in a rotating order so
// that machine noise hits all of them alike:
//
//	plain:   runc, readonly volume (submounts stay writable)
//	native:  runc, readonly + recursive_read_only (containerd asks runc for rro)
//	plugin:  runc, readonly volume, rro-nri connected (adds rro over NRI)
//	wrapper: handler with BinaryName rro-runc, readonly volume
//
// The plugin is connected only during its own variant, so the other three
// pay no NRI round trip; connecting happens outside the timed part.
func TestBenchPodsPerSecond(t *testing.T) {
	fixture.RequireRoot(t)
	rounds := envInt(t, envBenchRounds, 1)
	perRound := envInt(t, envBenchPerRound, 2)
	vol := fixture.NestedVolume(t)
	conf := filepath.Join(t.TempDir(), "rro-runc.toml")
	runc := fixture.Runc(t)
	writeConf(t, conf, "policy = \"IfPossible\"\nruntime = \""+runc+"\"\n")
	cache := t.TempDir()
	c := newCD2(t, cd2Options{
		Handlers: map[string]string{"rro": fixture.RroRunc(t)},
		Env:      []string{"RRO_RUNC_CONFIG=" + conf, "RRO_RUNC_CACHE_DIR=" + cache},
	})
	c.start(t)
	def, err := runPod(t, c, "bench-runc", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	wrap, err := runPod(t, c, "bench-rro", "rro", nil)
	if err != nil {
		t.Fatal(err)
	}
	pl := startPlugin(t, c, "--config", conf, "--cache-dir", cache, "--runtime", runc)
	// CPU the plugin process spends while connected, start-up (Go
	// runtime, warm probe, registration) excluded: a figure the machine's
	// load does not blur the way wall-clock throughput is blurred.
	var pluginCPU, cpuAtStart time.Duration
	pluginOn := true
	cpuAtStart = procCPU(t, pl.p.Cmd.Process.Pid)
	setPlugin := func(on bool) {
		if on == pluginOn {
			return
		}
		if on {
			pl.start(t)
			cpuAtStart = procCPU(t, pl.p.Cmd.Process.Pid)
		} else {
			pluginCPU += procCPU(t, pl.p.Cmd.Process.Pid) - cpuAtStart
			pl.p.Stop(t, 10*time.Second)
		}
		pluginOn = on
	}

	native := roVol(vol)
	native["recursive_read_only"] = true
	type variant struct {
		name   string
		pod    *pod
		vol    volume
		plugin bool
	}
	variants := []variant{
		{"plain", def, roVol(vol), false},
		{"native", def, native, false},
		{"plugin", def, roVol(vol), true},
		{"wrapper", wrap, roVol(vol), false},
	}

	// One checked container per variant first: the benchmark is worth
	// nothing if the variants do not do what they say.
	for _, v := range variants {
		setPlugin(v.plugin)
		out, _, err := v.pod.probe(t, []volume{v.vol})
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		want := fixture.WantRRO
		if v.name == "plain" {
			want = fixture.WantPlain
		}
		fixture.CheckProbe(t, out, want)
	}

	one := func(v variant, n int) error {
		id, err := v.pod.create(t, fmt.Sprintf("b-%s-%d", v.name, n), []volume{v.vol}, "/bin/true")
		if err != nil {
			return err
		}
		if out, err := c.crictl("start", id); err != nil {
			return fmt.Errorf("start: %v\n%s", err, out)
		}
		for {
			s, err := c.crictl("inspect", "-o", "go-template", "--template", "{{.status.state}}", id)
			if err != nil {
				return fmt.Errorf("inspect: %v\n%s", err, s)
			}
			if strings.TrimSpace(s) == "CONTAINER_EXITED" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if out, err := c.crictl("rm", id); err != nil {
			return fmt.Errorf("rm: %v\n%s", err, out)
		}
		return nil
	}
	// Each container is timed on its own: on a shared, loaded machine
	// the median of single containers resists bursts of load better than
	// a round's total. Toggling the plugin is outside the timed part.
	took := map[string][]float64{}
	n := 0
	for r := range rounds {
		for k := range variants {
			v := variants[(r+k)%len(variants)]
			setPlugin(v.plugin)
			for range perRound {
				n++
				start := time.Now()
				if err := one(v, n); err != nil {
					t.Fatalf("%s: %v", v.name, err)
				}
				took[v.name] = append(took[v.name], time.Since(start).Seconds())
			}
		}
	}
	median := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		if len(s)%2 == 1 {
			return s[len(s)/2]
		}
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	mean := func(xs []float64) float64 {
		sum := 0.0
		for _, x := range xs {
			sum += x
		}
		return sum / float64(len(xs))
	}
	natMed, natMean := median(took["native"]), mean(took["native"])
	t.Logf("%d rounds x %d containers per variant, interleaved (rotating order); per container:", rounds, perRound)
	t.Logf("  %-8s %10s %9s %10s %9s  %s", "variant", "median", "per s", "mean", "per s", "throughput vs native (median, mean)")
	for _, v := range variants {
		md, mn := median(took[v.name]), mean(took[v.name])
		t.Logf("  %-8s %9.0fms %8.2f/s %9.0fms %8.2f/s  %6.1f%% %6.1f%%", v.name, md*1000, 1/md, mn*1000, 1/mn, 100*natMed/md, 100*natMean/mn)
	}
	if pluginOn {
		pluginCPU += procCPU(t, pl.p.Cmd.Process.Pid) - cpuAtStart
	}
	if k := len(took["plugin"]); k > 0 {
		t.Logf("rro-nri CPU time (schedstat) while connected: %s over %d timed containers plus %d checked ones: %s per container",
			pluginCPU, k, 1, pluginCPU/time.Duration(k+1))
	}
	if lat := pluginLatencies(readFile(pl.log)); len(lat) > 0 {
		slices.Sort(lat)
		t.Logf("rro-nri CreateContainer work (its own log, %d containers): median %s, max %s",
			len(lat), lat[len(lat)/2], lat[len(lat)-1])
	}
}

var tookRE = regexp.MustCompile(`rro on \S+ \(policy [^)]*\) in (\S+?)"?$`)

// pluginLatencies reads the time the plugin reports for each container it
// adjusted.
func pluginLatencies(log string) []time.Duration {
	var out []time.Duration
	for _, l := range strings.Split(log, "\n") {
		if m := tookRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				out = append(out, d)
			}
		}
	}
	return out
}

// procCPU is the CPU time a process's threads have run, from
// /proc/PID/schedstat (the scheduler's nanosecond count; /proc/PID/stat's
// tick-sampled utime and stime charge a whole 10ms tick to whoever runs
// when it fires, which for a process that works a millisecond at a time
// is noise).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	var total time.Duration
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("reading CPU time of %d: %v", pid, err)
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that just exited
		}
		ns, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		if err != nil {
			t.Fatalf("%s: %q", f, b)
		}
		total += time.Duration(ns)
	}
	return total
}
