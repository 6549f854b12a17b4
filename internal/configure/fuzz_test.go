package configure

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzEdit feeds arbitrary files to every target: Edit must never panic,
// must fail only with its own sentinel errors, and what it returns must
// be stable under a second run.
func FuzzEdit(f *testing.F) {
	for _, seed := range []string{
		"", "{}", daemonJSON, criConfig, containersConf,
		"version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nruntimes.rro.runtime_type = \"x\"\n",
		"[engine]\nruntime_supports_json = [\n  \"crun\", # c\n]\nruntimes = { runc = [\"/x\"] }\n",
		"a = \"\"\"\nx = 1\n[engine]\n\"\"\"\nb = '''q''''\nc = 1979-05-27 07:32:00Z\n",
		`{"runtimes": {"rro": {"path": "/x", "runtimeArgs": ["--rro-policy", "Enabled"]}}, "a": [1, {"b": null}]}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, src []byte, setDefault bool) {
		for _, tg := range Targets {
			o := Options{RuntimeName: "rro", Binary: "/usr/local/bin/rro-runc", SetAsDefault: setDefault}
			if tg == Docker {
				o.Policy = "Enabled"
			}
			out, err := Edit(tg, "f", src, o)
			if err != nil {
				if !errors.Is(err, ErrParse) && !errors.Is(err, ErrUnsupported) {
					t.Fatalf("%s: unexpected error %v for %q", tg, err, src)
				}
				continue
			}
			again, err := Edit(tg, "f", out, o)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("%s: second run: %v\nfirst:\n%s\nsecond:\n%s", tg, err, out, again)
			}
		}
	})
}
