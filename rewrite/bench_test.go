package rewrite

import (
	"encoding/json"
	"fmt"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// benchConfig builds a config.json with n mounts laid out the way `runc
// spec` writes it (tab-indented), mixing the client option lists with
// mounts that are not candidates.
func benchConfig(tb testing.TB, n int) []byte {
	tb.Helper()
	lists := [][]string{
		{"rbind", "ro"},
		{"rbind", "rprivate", "ro"},
		{"rbind", "rw", "rprivate"},
		{"ro", "rprivate", "rbind"},
		{"nosuid", "noexec", "nodev"},
	}
	spec := specs.Spec{
		Version:     "1.2.0",
		Process:     &specs.Process{Args: []string{"sh"}, Cwd: "/"},
		Root:        &specs.Root{Path: "rootfs"},
		Annotations: map[string]string{"io.kubernetes.pod.name": "bench"},
	}
	for i := range n {
		spec.Mounts = append(spec.Mounts, specs.Mount{
			Destination: fmt.Sprintf("/volumes/v%05d", i),
			Type:        "bind",
			Source:      fmt.Sprintf("/var/lib/kubelet/pods/%08x/volumes/v%05d", i*2654435761, i),
			Options:     lists[i%len(lists)],
		})
	}
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func benchmarkRewrite(b *testing.B, n int) {
	cfg := benchConfig(b, n)
	opts := Options{Policy: Enabled, Exclude: DefaultExclude, Propagation: Lenient}
	b.SetBytes(int64(len(cfg)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := Analyze(cfg, opts)
		if err != nil {
			b.Fatal(err)
		}
		res, err := p.Apply(Support{Supported: true})
		if err != nil || !res.Changed {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewrite10(b *testing.B)    { benchmarkRewrite(b, 10) }
func BenchmarkRewrite1000(b *testing.B)  { benchmarkRewrite(b, 1000) }
func BenchmarkRewrite10000(b *testing.B) { benchmarkRewrite(b, 10000) }

// BenchmarkUnmarshalSpec10000 is the alternative the hand-written parser
// is measured against: decoding the same config into specs.Spec, which
// alone costs more than the whole of Analyze and Apply, and then could not
// write the config back losslessly.
func BenchmarkUnmarshalSpec10000(b *testing.B) {
	cfg := benchConfig(b, 10000)
	b.SetBytes(int64(len(cfg)))
	b.ReportAllocs()
	for b.Loop() {
		var s specs.Spec
		if err := json.Unmarshal(cfg, &s); err != nil {
			b.Fatal(err)
		}
	}
}
