// Package stages times, in process, each stage rro-runc's create goes
// through after the Go runtime has started, on the same bundle as the
// whole-process benchmark (20 mounts, 5 of them rbind,ro host binds). The
// whole-process benchmark says how much create costs above the Go floor;
// this says where it goes. The package has no code outside its tests.
//
//	go test -run '^$' -bench . -benchmem ./bench/stages
package stages

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rro-runc/rro-runc/internal/policy"
	"github.com/rro-runc/rro-runc/internal/specfile"
	"github.com/rro-runc/rro-runc/probe"
	"github.com/rro-runc/rro-runc/rewrite"
)

// config is a runc-spec-like config.json with runc spec's 7 default
// mounts, 5 rbind,ro host binds and 8 mounts that must not change.
func config(tb testing.TB) []byte {
	tb.Helper()
	mounts := []map[string]any{
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": []string{"nosuid", "noexec", "nodev"}},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": []string{"nosuid", "noexec", "nodev", "ro"}},
		{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
	for i := 0; i < 5; i++ {
		mounts = append(mounts, map[string]any{"destination": fmt.Sprintf("/vol/ro%d", i), "type": "bind", "source": fmt.Sprintf("/srv/ro%d", i), "options": []string{"rbind", "ro"}})
	}
	for i := 0; len(mounts) < 20; i++ {
		mounts = append(mounts, map[string]any{"destination": fmt.Sprintf("/scratch/%d", i), "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "nodev", "size=1m"}})
	}
	spec := map[string]any{
		"ociVersion": "1.0.2-dev",
		"process": map[string]any{
			"terminal": false, "user": map[string]any{"uid": 0, "gid": 0}, "args": []string{"sleep", "1000000"},
			"env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}, "cwd": "/",
			"capabilities": map[string]any{"bounding": []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
			"rlimits":      []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}},
		},
		"root":     map[string]any{"path": "rootfs", "readonly": true},
		"hostname": "runc",
		"mounts":   mounts,
		"linux": map[string]any{
			"namespaces":    []map[string]string{{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
			"maskedPaths":   []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/sys/firmware"},
			"readonlyPaths": []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func writeTOML(tb testing.TB, dir, runtime string) string {
	tb.Helper()
	p := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(p, fmt.Appendf(nil, "policy = \"IfPossible\"\nruntime = %q\n", runtime), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func BenchmarkPolicyLoad(b *testing.B) {
	env := getenv(map[string]string{policy.EnvConfig: writeTOML(b, b.TempDir(), "/usr/sbin/runc")})
	for b.Loop() {
		if _, err := policy.Load(policy.Overrides{}, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConfigRead(b *testing.B) {
	p := filepath.Join(b.TempDir(), "config.json")
	if err := os.WriteFile(p, config(b), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := specfile.Read(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewrite20(b *testing.B) {
	data := config(b)
	opts := rewrite.Options{Policy: rewrite.IfPossible, Exclude: rewrite.DefaultExclude, Propagation: rewrite.Strict}
	for b.Loop() {
		plan, err := rewrite.Analyze(data, opts)
		if err != nil {
			b.Fatal(err)
		}
		res, err := plan.Apply(rewrite.Support{Supported: true})
		if err != nil || !res.Changed {
			b.Fatalf("rewrite: changed=%v err=%v", res.Changed, err)
		}
	}
}

// BenchmarkProbeWarm is the kernel check plus a warm runtime cache read,
// as probeSupport in cmd/rro-runc does them.
func BenchmarkProbeWarm(b *testing.B) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		b.Skip("runc not in PATH")
	}
	p := &probe.Prober{CacheDir: b.TempDir()}
	if _, err := p.Runtime(runc); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		k := probe.ProbeKernel()
		rt, err := p.Runtime(runc)
		if err != nil {
			b.Fatal(err)
		}
		probe.Support(k, rt)
	}
}

// BenchmarkWrite replaces config.json where bundles live (/run) and on a
// tmpfs (/dev/shm): on this project's machine /run is ext4, on most it is
// tmpfs, and the fsyncs cost accordingly.
func BenchmarkWrite(b *testing.B) {
	data := config(b)
	for _, parent := range []string{"/run", "/dev/shm", os.TempDir()} {
		b.Run(filepath.Base(parent)+"-"+fsName(parent), func(b *testing.B) {
			dir, err := os.MkdirTemp(parent, "rro-stages-")
			if err != nil {
				b.Skipf("%s: %v", parent, err)
			}
			b.Cleanup(func() { os.RemoveAll(dir) })
			p := filepath.Join(dir, "config.json")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := specfile.Replace(p, data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
