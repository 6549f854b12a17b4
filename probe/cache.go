package probe

import (
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rro-runc/rro-runc/internal/specfile"
)

// EnvCacheDir moves the probe cache (rro-runc and rroctl read it the same
// way), so tests, benchmarks and nodes whose /run is small or read-only
// can give rro-runc its own directory. Empty means the default place.
const EnvCacheDir = "RRO_RUNC_CACHE_DIR"

// DefaultCacheDir is where root's answers are cached; /run is a tmpfs on
// a normal node, so the cache dies with the boot it describes.
const DefaultCacheDir = "/run/rro-runc"

// DefaultDir is where a caller with this environment keeps the cache:
// $RRO_RUNC_CACHE_DIR when set; for root DefaultCacheDir; for anyone else
// (rootless Podman, a user's containerd) a directory only that user owns:
// $XDG_RUNTIME_DIR/rro-runc (a per-user tmpfs that dies with the last
// session, as /run does with the boot), else $TMPDIR/rro-runc-UID
// (/tmp/rro-runc-UID). Root's /run/rro-runc is not writable by others,
// so sharing it would make every rootless create probe again.
func DefaultDir(getenv func(string) string) string {
	if d := getenv(EnvCacheDir); d != "" {
		return d
	}
	uid := os.Geteuid()
	if uid == 0 {
		return DefaultCacheDir
	}
	if x := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
		return filepath.Join(x, "rro-runc")
	}
	return filepath.Join(os.TempDir(), "rro-runc-"+strconv.Itoa(uid))
}

// cacheKey identifies one build of one runtime on one boot: replacing the
// binary (package upgrade, even one that keeps size and mtime) or
// rebooting (maybe into another kernel) invalidates it.
type cacheKey struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtimeNs"`
	CtimeNs int64  `json:"ctimeNs"`
	BootID  string `json:"bootId"`
}

// cacheEntry is one cached answer. Ran records what the probe ran: the
// file of the key, which is an ELF executable (see Runtime for why only
// those are cached).
type cacheEntry struct {
	Key     cacheKey `json:"key"`
	Ran     string   `json:"ran"`
	Runtime Runtime  `json:"runtime"`
}

// ranELF is cacheEntry.Ran for the only kind of file that is cached.
const ranELF = "ELF executable"

// maxCacheFile bounds what is read of a cache file; a real one is < 1 KiB.
const maxCacheFile = 64 << 10

func (p *Prober) cacheDir() string {
	if p.CacheDir != "" {
		return p.CacheDir
	}
	return DefaultDir(os.Getenv)
}

// cacheFile is named after the runtime's path only, not the whole key:
// a new build overwrites the old build's answer instead of adding a file
// per upgrade. The key inside the file tells the builds apart, so the
// name needs no cryptographic hash (crypto's package inits would run on
// every rro-runc call).
func (p *Prober) cacheFile(abs string) string {
	h := fnv.New64a()
	h.Write([]byte(abs))
	return filepath.Join(p.cacheDir(), "runtime-"+hex.EncodeToString(h.Sum(nil))+".json")
}

// lockFile is the cache entry's lock: cold probes of one runtime take
// turns, so that a burst of creates on a fresh node probes once.
func lockFile(cacheFile string) string {
	return cacheFile[:len(cacheFile)-len(".json")] + ".lock"
}

// cacheState is what was found in the cache file.
type cacheState int

const (
	cacheMissing   cacheState = iota // no file, or not readable
	cacheStale                       // ours, but not an answer for this key
	cacheUntrusted                   // not ours, or not a regular file: replace, do not preserve
	cacheFresh
)

func readCache(file string, key cacheKey) (Runtime, cacheState) {
	b, state := readCacheFile(file)
	if state != cacheFresh {
		return Runtime{}, state
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil || e.Key != key || e.Ran != ranELF || e.Runtime.Path != key.Path {
		return Runtime{}, cacheStale
	}
	return e.Runtime, cacheFresh
}

// writeCache is best effort: the answer is already known, and a cache
// that cannot be written only costs the next create a probe.
func writeCache(dir, file string, key cacheKey, rt Runtime, found cacheState) {
	b, err := json.Marshal(cacheEntry{Key: key, Ran: ranELF, Runtime: rt})
	if err != nil {
		return
	}
	if !privateDir(dir) {
		return
	}
	if found == cacheUntrusted {
		// Replace would keep a foreign owner or a lax mode, and refuses
		// to replace a symlink or a directory.
		_ = os.Remove(file)
	}
	_ = specfile.Replace(file, append(b, '\n'), 0o600)
}

// lockWait bounds how long a cold probe waits for another process's probe
// of the same runtime: that probe's two runs go side by side, each
// bounded by the timeout and the pipes' WaitDelay. After that the waiter
// probes by itself.
func lockWait(timeout time.Duration) time.Duration {
	return timeout + waitDelay + time.Second
}
