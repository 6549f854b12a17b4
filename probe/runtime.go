package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/rro-runc/rro-runc/launch"
)

// ErrRuntime: the runtime could not be run at all.
var ErrRuntime = errors.New("cannot run the runtime")

// DefaultCacheDir is where runtime answers are cached; /run is a tmpfs,
// so the cache dies with the boot it describes.
const DefaultCacheDir = "/run/rro-runc"

// Runtime is what a runtime can do.
type Runtime struct {
	Path        string `json:"path"`
	Name        string `json:"name"`    // from --version: runc, crun, youki, ...
	Version     string `json:"version"` // e.g. 1.1.5+ds1
	HasFeatures bool   `json:"hasFeatures"`
	RRO         bool   `json:"rro"`
	Method      string `json:"method"` // "features" or "version"
	Reason      string `json:"reason"` // how RRO was decided, or what is missing
	Cached      bool   `json:"-"`
}

// Prober probes runtimes and caches the answers.
type Prober struct {
	CacheDir string        // "" means DefaultCacheDir
	Timeout  time.Duration // per exec; 0 means 10s

	execs int // processes started, for tests
}

// minVersions are the first releases that implement rro, for runtimes
// whose features command is missing (crun < 1.8.6) or silent about rro
// (youki).
var minVersions = map[string][3]int{
	"runc":  {1, 1, 0},
	"crun":  {1, 4, 0},
	"youki": {0, 0, 5},
}

// Runtime answers for the runtime at path (absolute), from the cache when
// it is fresh.
func (p *Prober) Runtime(path string) (Runtime, error) {
	key, err := identify(path)
	if err != nil {
		return Runtime{}, fmt.Errorf("%w %s: %w", ErrRuntime, path, err)
	}
	cacheFile := p.cacheFile(path)
	if rt, ok := readCache(cacheFile, key); ok {
		rt.Cached = true
		return rt, nil
	}
	rt, definitive, err := p.probe(path)
	if err != nil {
		return Runtime{}, err
	}
	if definitive {
		writeCache(p.cacheDir(), cacheFile, key, rt)
	}
	return rt, nil
}

// probe runs the runtime. definitive is false when an exec timed out: a
// hung runtime is not an answer worth remembering.
func (p *Prober) probe(path string) (rt Runtime, definitive bool, err error) {
	rt = Runtime{Path: path}
	versionOut, verr := p.run(path, "--version")
	if errors.Is(verr, exec.ErrNotFound) || errors.Is(verr, syscall.ENOENT) || errors.Is(verr, syscall.EACCES) || errors.Is(verr, syscall.ENOEXEC) {
		return rt, false, fmt.Errorf("%w %s: %w", ErrRuntime, path, verr)
	}
	definitive = !errors.Is(verr, context.DeadlineExceeded)
	if verr == nil {
		rt.Name, rt.Version = parseVersion(versionOut)
	}

	featuresOut, ferr := p.run(path, "features")
	definitive = definitive && !errors.Is(ferr, context.DeadlineExceeded)
	var f features.Features
	if ferr == nil && json.Unmarshal(featuresOut, &f) == nil {
		rt.HasFeatures = true
		switch {
		case slices.Contains(f.MountOptions, "rro"):
			rt.RRO, rt.Method, rt.Reason = true, "features", "features lists rro"
			return rt, definitive, nil
		case f.MountOptions != nil && rt.Name != "youki":
			rt.Method = "features"
			rt.Reason = fmt.Sprintf("runtime %s does not support rro (features does not list it%s)", path, versionNote(rt))
			return rt, definitive, nil
		}
		// No mount options listed, or youki, whose features omit rro
		// although it implements it: decide by version.
	}
	rt.Method = "version"
	how := "no features command"
	if rt.HasFeatures {
		how = "features does not say"
	}
	min, known := minVersions[rt.Name]
	v, parsed := parseNumbers(rt.Version)
	switch {
	case verr != nil || rt.Name == "":
		rt.Reason = fmt.Sprintf("runtime %s does not support rro (%s, and --version is unreadable)", path, how)
	case !known || !parsed:
		rt.Reason = fmt.Sprintf("runtime %s does not support rro (%s, and %s %s is not a runtime known to implement it)", path, how, rt.Name, rt.Version)
	case !atLeast(v, min):
		rt.Reason = fmt.Sprintf("runtime %s does not support rro (%s, version %s; %s implements rro since %d.%d.%d)", path, how, rt.Version, rt.Name, min[0], min[1], min[2])
	default:
		rt.RRO = true
		rt.Reason = fmt.Sprintf("%s; %s %s implements rro (since %d.%d.%d)", how, rt.Name, rt.Version, min[0], min[1], min[2])
	}
	return rt, definitive, nil
}

func versionNote(rt Runtime) string {
	if rt.Name == "" {
		return ""
	}
	return ", " + rt.Name + " " + rt.Version
}

func (p *Prober) run(path string, arg string) ([]byte, error) {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, arg)
	// Marked like an exec'd runtime: a wrapper that leads back to
	// rro-runc fails fast instead of probing in a loop.
	cmd.Env = append(os.Environ(), launch.EnvChain+"="+path)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.WaitDelay = time.Second
	p.execs++
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s %s: %w", path, arg, context.DeadlineExceeded)
	}
	return stdout.Bytes(), err
}

var versionLine = regexp.MustCompile(`^(\S+) version (\S+)`)

// parseVersion reads "<name> version <version>" from the first line.
func parseVersion(out []byte) (name, version string) {
	first, _, _ := strings.Cut(string(out), "\n")
	m := versionLine.FindStringSubmatch(strings.TrimSpace(first))
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

// parseNumbers reads the leading major.minor.patch of a version such as
// "1.1.5+ds1" or "1.8"; missing parts are zero.
func parseNumbers(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	end := strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end >= 0 {
		v = v[:end]
	}
	parts := strings.Split(strings.Trim(v, "."), ".")
	if len(parts) == 0 || parts[0] == "" || len(parts) > 3 {
		return out, false
	}
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil {
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
func Support(k Kernel, rt Runtime) (bool, string) {
	if !k.MountSetattr {
		return false, fmt.Sprintf("kernel %s cannot do recursive read-only mounts (%s; needs Linux >= 5.12)", k.Release, k.Method)
	}
	if !rt.RRO {
		return false, rt.Reason
	}
	return true, "kernel has mount_setattr; " + rt.Reason
}
