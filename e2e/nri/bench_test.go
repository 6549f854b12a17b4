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
// notes/README-nri.md come from a longer run, e.g.
// RRO_NRI_BENCH_ROUNDS=12 RRO_NRI_BENCH_PER_ROUND=6.
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
	pluginOn := true
	setPlugin := func(on bool) {
		if on == pluginOn {
			return
		}
		if on {
			pl.start(t)
		} else {
			pl.p.stop(t, false, 10*time.Second)
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
	rates := map[string][]float64{}
	n := 0
	for r := range rounds {
		for k := range variants {
			v := variants[(r+k)%len(variants)]
			setPlugin(v.plugin)
			start := time.Now()
			for range perRound {
				n++
				if err := one(v, n); err != nil {
					t.Fatalf("%s: %v", v.name, err)
				}
			}
			rates[v.name] = append(rates[v.name], float64(perRound)/time.Since(start).Seconds())
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
	nat := median(rates["native"])
	t.Logf("%d rounds x %d containers per variant, interleaved; median containers/s per round:", rounds, perRound)
	for _, v := range variants {
		m := median(rates[v.name])
		t.Logf("  %-8s %6.2f/s  %6.1f%% of native  (rounds: %s)", v.name, m, 100*m/nat, fmtRates(rates[v.name]))
	}
	if lat := pluginLatencies(readFile(pl.log)); len(lat) > 0 {
		slices.Sort(lat)
		t.Logf("rro-nri CreateContainer work (its own log, %d containers): median %s, max %s",
			len(lat), lat[len(lat)/2], lat[len(lat)-1])
	}
}

func fmtRates(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.FormatFloat(x, 'f', 2, 64))
	}
	return strings.Join(s, " ")
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
