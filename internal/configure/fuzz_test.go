package configure

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzEdit feeds arbitrary files to every target: Edit and Remove must
// never panic, must fail only with their own sentinel errors, and what
// they return must be stable under a second run; Remove must undo Edit
// (checkRemove).
func FuzzEdit(f *testing.F) {
	for _, seed := range []string{
		"", "{}", daemonJSON, criConfig, containersConf,
		"version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nruntimes.rro.runtime_type = \"x\"\n",
		"[engine]\nruntime_supports_json = [\n  \"crun\", # c\n]\nruntimes = { runc = [\"/x\"] }\n",
		"a = \"\"\"\nx = 1\n[engine]\n\"\"\"\nb = '''q''''\nc = 1979-05-27 07:32:00Z\n",
		`{"runtimes": {"rro": {"path": "/x", "runtimeArgs": ["--rro-policy", "Enabled"]}}, "a": [1, {"b": null}]}`,
		// What rroctl writes, to be removed.
		"version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.rro]\nruntime_type = 'io.containerd.runc.v2'\npod_annotations = ['org.rro-runc.*']\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.rro.options]\nBinaryName = '/usr/local/bin/rro-runc'\n",
		"{\"runtimes\": {\"rro\": {\"path\": \"/usr/local/bin/rro-runc\", \"runtimeArgs\": [\"--rro-policy=Enabled\"]}}, \"default-runtime\": \"rro\"}",
		"[engine]\nruntime = \"rro\"\nruntime_supports_json = [\n  \"crun\",\n  \"rro\",\n]\n[engine.runtimes]\nrro = [\"/usr/local/bin/rro-runc\"]",
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
			if rm, err := Remove(tg, "f", src, o); err != nil {
				if !errors.Is(err, ErrParse) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrNotOurs) {
					t.Fatalf("%s: Remove: unexpected error %v for %q", tg, err, src)
				}
			} else if again, err := Remove(tg, "f", rm, o); err != nil || !bytes.Equal(again, rm) {
				t.Fatalf("%s: Remove twice: %v\nfirst:\n%s\nsecond:\n%s", tg, err, rm, again)
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
			if err := checkRemove(tg, src, out, o); err != nil {
				t.Fatalf("%s: %v\ninput: %q", tg, err, src)
			}
		}
	})
}
