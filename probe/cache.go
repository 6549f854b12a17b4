package probe

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rro-runc/rro-runc/atomicfile"
)

// cacheKey identifies one build of one runtime on one boot: replacing the
// binary (package upgrade) or rebooting (new kernel) invalidates it.
type cacheKey struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtimeNs"`
	BootID  string `json:"bootId"`
}

type cacheEntry struct {
	Key     cacheKey `json:"key"`
	Runtime Runtime  `json:"runtime"`
}

func identify(path string) (cacheKey, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return cacheKey{}, err
	}
	return cacheKey{
		Path: path, Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size,
		MtimeNs: st.Mtim.Sec*1e9 + st.Mtim.Nsec, BootID: BootID(),
	}, nil
}

// BootID is the kernel's random boot id, or "" where there is none.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (p *Prober) cacheDir() string {
	if p.CacheDir != "" {
		return p.CacheDir
	}
	return DefaultCacheDir
}

// CacheFile is where the answer for the runtime at path is kept.
func (p *Prober) CacheFile(path string) string { return p.cacheFile(path) }

func (p *Prober) cacheFile(path string) string {
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(p.cacheDir(), "runtime-"+hex.EncodeToString(sum[:8])+".json")
}

func readCache(file string, key cacheKey) (Runtime, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Runtime{}, false
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil || e.Key != key || e.Runtime.Path != key.Path {
		return Runtime{}, false
	}
	return e.Runtime, true
}

// writeCache is best effort: the answer is already known, and a cache
// that cannot be written only costs the next create a probe.
func writeCache(dir, file string, key cacheKey, rt Runtime) {
	b, err := json.Marshal(cacheEntry{Key: key, Runtime: rt})
	if err != nil {
		return
	}
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	_ = atomicfile.WriteFile(file, b, 0o600)
}
