package probe

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// ErrRuntime means the runtime could not be run at all: missing, not
// executable, not a program.
var ErrRuntime = errors.New("cannot run the runtime")

// DefaultTimeout bounds each exec of the runtime.
const DefaultTimeout = 10 * time.Second

// Runtime is what a runtime can do.
type Runtime struct {
	Path        string `json:"path"`        // absolute path the runtime was run by
	Name        string `json:"name"`        // from --version: runc, crun, youki, ...
	Version     string `json:"version"`     // as --version prints it, e.g. 1.1.5+ds1
	HasFeatures bool   `json:"hasFeatures"` // `features` printed runtime-spec features JSON
	RRO         bool   `json:"rro"`         // the runtime implements the rro mount option
	Method      string `json:"method"`      // "features" or "version": what decided RRO
	Reason      string `json:"reason"`      // how RRO was decided, or what is missing
	Cached      bool   `json:"-"`           // the answer came from the cache
	// NotCacheable says why the answer is never cached ("" when it is):
	// the runtime file is not an ELF executable.
	NotCacheable string `json:"-"`
}

// Prober probes runtimes and caches the answers. The zero value is ready
// to use; a Prober may be used by several goroutines at once.
type Prober struct {
	CacheDir string        // "" means DefaultDir(os.Getenv)
	Timeout  time.Duration // per exec; 0 means DefaultTimeout

	execs atomic.Int32 // processes started, for tests
}

// minVersion is the first release that implements rro, for runtimes
// whose features command is missing (runc < 1.1, crun < 1.8.6), does not
// list mount options, or is silent about rro although the runtime
// implements it (youki). A switch, not a map: a package-level map is
// built at init, on every rro-runc call including pass-through.
func minVersion(name string) (version string, known bool) {
	switch name {
	case "runc":
		return "1.1.0", true
	case "crun":
		return "1.4", true
	case "youki":
		return "0.0.5", true
	}
	return "", false
}

// Runtime answers for the runtime at path, from the cache when it is
// fresh. A path without a slash is looked up in PATH, like exec does; a
// relative one is made absolute.
//
// What the cache vouches for: the answer of one ELF executable, the file
// rro-runc execs, identified by path, device, inode, size, mtime, ctime
// and boot. A `#!` script or any other file the kernel hands to an
// interpreter is probed on every call and never cached: what answered
// (the interpreter, or whatever runtime the script runs) can change
// without the file changing, so an entry would vouch for a binary it
// never looked at. An ELF wrapper that itself execs another runtime is
// beyond what the file's identity can show; point rro-runc at the real
// runtime, or make the wrapper a script.
//
// Cold probes of one runtime take turns on a lock beside its cache entry,
// so that a burst of creates on a fresh node runs the runtime once, not
// once per create; a waiter gives up after lockWait and probes by itself,
// and a lock that cannot be taken at all is no lock.
func (p *Prober) Runtime(path string) (Runtime, error) {
	abs, err := resolve(path)
	if err != nil {
		return Runtime{}, fmt.Errorf("%w %s: %w", ErrRuntime, path, err)
	}
	key, err := identify(abs)
	if err != nil {
		return Runtime{}, fmt.Errorf("%w %s: %w", ErrRuntime, abs, err)
	}
	file := p.cacheFile(abs)
	rt, found := readCache(file, key)
	if found == cacheFresh {
		rt.Cached = true
		return rt, nil
	}
	cacheable := isELF(abs, key)
	dir := p.cacheDir()
	if cacheable && privateDir(dir) {
		var cached Runtime
		answered := func() bool {
			cached, found = readCache(file, key)
			return found == cacheFresh
		}
		unlock, done := lockEntry(lockFile(file), lockWait(p.timeout()), answered)
		if unlock != nil {
			defer unlock()
			// Whoever held the lock before may have just written the answer.
			done = answered()
		}
		if done {
			cached.Cached = true
			return cached, nil
		}
	}
	rt, definitive, err := p.probe(abs)
	if err != nil {
		return Runtime{}, err
	}
	if !cacheable {
		rt.NotCacheable = abs + " is not an ELF executable the caller can read (a script or another wrapper): what answers can change without it, so it is probed on every create"
		return rt, nil
	}
	// Only an answer known to describe the build in the key is kept: a
	// runtime replaced while it was being probed is probed again next time.
	if again, err := identify(abs); definitive && err == nil && again == key {
		writeCache(dir, file, key, rt, found)
	}
	return rt, nil
}

func (p *Prober) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// Check is the whole question rro-runc's create path asks (and rroctl's
// check and rewrite with it): can the runtime at path, on this kernel,
// make mounts recursively read-only, and why or why not. The cache is
// the default one for this environment (DefaultDir). A runtime that
// cannot be run is a "no" with the error as its reason.
func Check(runtime string) (ok bool, reason string) {
	rt, err := (&Prober{}).Runtime(runtime)
	if err != nil {
		return false, err.Error()
	}
	return Support(ProbeKernel(), rt)
}

// CacheFile is where the answer for the runtime at path is kept. The
// error is for a path that cannot be resolved, as in Runtime.
func (p *Prober) CacheFile(path string) (string, error) {
	abs, err := resolve(path)
	if err != nil {
		return "", fmt.Errorf("%w %s: %w", ErrRuntime, path, err)
	}
	return p.cacheFile(abs), nil
}

func resolve(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty path")
	}
	if !strings.Contains(path, "/") {
		found, err := exec.LookPath(path)
		if err != nil {
			return "", err
		}
		path = found
	}
	return filepath.Abs(path)
}

// probe runs the runtime. definitive is false when an exec timed out: a
// hung runtime is not an answer worth remembering.
func (p *Prober) probe(path string) (rt Runtime, definitive bool, err error) {
	// Both are needed for most runtimes (the version for the report, or to
	// decide); running them side by side halves the cold create's wait.
	var ver execResult
	var wg sync.WaitGroup
	wg.Go(func() { ver = p.run(path, "--version") })
	feat := p.run(path, "features")
	wg.Wait()
	for _, r := range []execResult{ver, feat} {
		if r.startErr != nil {
			return Runtime{}, false, fmt.Errorf("%w %s: %w", ErrRuntime, path, r.startErr)
		}
	}
	return decide(path, ver, feat), !ver.timedOut && !feat.timedOut, nil
}

// decide turns the outputs of --version and features into an answer.
func decide(path string, ver, feat execResult) Runtime {
	rt := Runtime{Path: path}
	if ver.err == nil {
		rt.Name, rt.Version = parseVersion(ver.stdout)
	}

	// how says why features did not decide; detail adds what only a
	// negative answer needs to show.
	var how, detail string
	var f features.Features
	switch {
	case feat.timedOut:
		how = "features " + feat.describe()
	case feat.err != nil:
		how, detail = "no features command", ": "+feat.describe()
	case json.Unmarshal(feat.stdout, &f) != nil:
		how, detail = "features output is not JSON", ": "+firstLine(feat.stdout)
	default:
		rt.HasFeatures = true
		switch {
		case slices.Contains(f.MountOptions, "rro"):
			rt.RRO, rt.Method, rt.Reason = true, "features", "features lists rro"
			return rt
		case rt.Name == "youki":
			how = "youki's features omit rro although it implements it"
		case f.MountOptions == nil:
			how = "features does not list mount options"
		default:
			rt.Method = "features"
			rt.Reason = fmt.Sprintf("runtime %s does not support rro (its features do not list rro%s)", path, nameVersion(rt, ", "))
			return rt
		}
	}

	rt.Method = "version"
	min, known := minVersion(rt.Name)
	have, parsed := parseNumbers(rt.Version)
	need, _ := parseNumbers(min)
	var byVersion string
	switch {
	case ver.err != nil:
		byVersion = "--version: " + ver.describe()
	case rt.Name == "":
		byVersion = fmt.Sprintf("--version printed %q, not \"<name> version X.Y.Z\"", firstLine(ver.stdout))
	case !known:
		byVersion = fmt.Sprintf("%s %s is not a runtime known to implement rro", rt.Name, rt.Version)
	case !parsed:
		byVersion = fmt.Sprintf("cannot read %s's version %q", rt.Name, rt.Version)
	case !atLeast(have, need):
		byVersion = fmt.Sprintf("%s %s < %s", rt.Name, rt.Version, min)
	default:
		rt.RRO = true
		rt.Reason = fmt.Sprintf("%s; %s %s >= %s implements rro", how, rt.Name, rt.Version, min)
		return rt
	}
	rt.Reason = fmt.Sprintf("runtime %s does not support rro (%s%s; %s)", path, how, detail, byVersion)
	return rt
}

func nameVersion(rt Runtime, sep string) string {
	if rt.Name == "" {
		return ""
	}
	return sep + rt.Name + " " + rt.Version
}

// parseVersion reads "<name> version <version>" from the first line.
// (No regexp: its package init would run on every rro-runc call.)
func parseVersion(out []byte) (name, version string) {
	f := strings.Fields(firstLine(out))
	if len(f) < 3 || f[1] != "version" {
		return "", ""
	}
	return f[0], f[2]
}

func firstLine(out []byte) string {
	first, _, _ := strings.Cut(string(out), "\n")
	first = strings.TrimSpace(first)
	if len(first) > 120 {
		first = first[:120] + "..."
	}
	return first
}

// parseNumbers reads the leading major.minor.patch of a version such as
// "1.1.5+ds1", "v0.3.0" or "1.8"; missing parts are zero.
func parseNumbers(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if end := strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); end >= 0 {
		v = v[:end]
	}
	parts := strings.Split(strings.TrimSuffix(v, "."), ".")
	if len(parts) > 3 {
		return out, false
	}
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

func atLeast(v, min [3]int) bool {
	for i := range v {
		if v[i] != min[i] {
			return v[i] > min[i]
		}
	}
	return true
}

// Support combines kernel and runtime into the one answer the rewrite
// needs, with what is missing spelled out.
func Support(k Kernel, rt Runtime) (ok bool, reason string) {
	if !k.MountSetattr {
		return false, fmt.Sprintf("kernel %s cannot do recursive read-only mounts (%s; needs Linux >= 5.12)", k.Release, k.Method)
	}
	if !rt.RRO {
		return false, rt.Reason
	}
	return true, fmt.Sprintf("kernel %s has mount_setattr; %s", k.Release, rt.Reason)
}
