package probe

import (
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"os"
	"path/filepath"

	"github.com/rro-runc/rro-runc/internal/specfile"
)

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

type cacheEntry struct {
	Key     cacheKey `json:"key"`
	Runtime Runtime  `json:"runtime"`
}

// maxCacheFile bounds what is read of a cache file; a real one is < 1 KiB.
const maxCacheFile = 64 << 10

func (p *Prober) cacheDir() string {
	if p.CacheDir != "" {
		return p.CacheDir
	}
	return DefaultCacheDir
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
	if json.Unmarshal(b, &e) != nil || e.Key != key || e.Runtime.Path != key.Path {
		return Runtime{}, cacheStale
	}
	return e.Runtime, cacheFresh
}

// writeCache is best effort: the answer is already known, and a cache
// that cannot be written only costs the next create a probe.
func writeCache(dir, file string, key cacheKey, rt Runtime, found cacheState) {
	b, err := json.Marshal(cacheEntry{Key: key, Runtime: rt})
	if err != nil {
		return
	}
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	if found == cacheUntrusted {
		// atomicfile would keep a foreign owner or a lax mode, and refuses
		// to replace a symlink or a directory.
		_ = os.Remove(file)
	}
	_ = specfile.Replace(file, append(b, '\n'), 0o600)
}
