package configure

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every test that edits through edit() also checks that Remove undoes
// the edit (checkRemove); these are the cases of Remove's own.

func remove(t *testing.T, tg Target, in string, o Options) string {
	t.Helper()
	out, err := Remove(tg, "test.conf", []byte(in), o)
	if err != nil {
		t.Fatalf("Remove: %v\ninput:\n%s", err, in)
	}
	if again, err := Remove(tg, "test.conf", out, o); err != nil || !bytes.Equal(again, out) {
		t.Fatalf("Remove not idempotent: %v\n%s", err, UnifiedDiff("first", "second", out, again))
	}
	return string(out)
}

func TestRemoveGivesBackTheOriginal(t *testing.T) {
	setDefault := opts(func(o *Options) { o.SetAsDefault = true })
	for _, tc := range []struct {
		tg Target
		in string
		o  Options
	}{
		{Containerd, criConfig, opts()},
		{Containerd, "", setDefault},
		{Containerd, "# nothing yet\n", opts(func(o *Options) { o.RuncRoot = "/run/x" })},
		{Containerd, "version = 3\nroot = \"/x\"", setDefault},
		{Containerd, "version = 2\r\nroot = \"/x\"\r\n# x\r\n", opts()},
		{Docker, daemonJSON, opts(func(o *Options) { o.Policy = "Enabled" })},
		{Docker, "", setDefault},
		{Docker, "{}", setDefault},
		{Docker, `{"debug": true}`, setDefault},
		{Podman, containersConf, opts()},
		{Podman, "", setDefault},
		{Podman, "[engine]\nruntime_supports_json = [\n  \"crun\",\n]\n", opts()},
	} {
		out := edit(t, tc.tg, tc.in, tc.o)
		if back := remove(t, tc.tg, out, tc.o); back != tc.in {
			t.Errorf("%s: Remove(Edit(x)) != x:\n%s", tc.tg, UnifiedDiff("x", "removed", []byte(tc.in), []byte(back)))
		}
	}
}

func TestRemoveKeepsWhatChangedMeanwhile(t *testing.T) {
	out := edit(t, Containerd, criConfig, opts())
	later := strings.Replace(out, "    sandbox_image", "    # pinned by ops\n    sandbox_image", 1)
	want := strings.Replace(criConfig, "    sandbox_image", "    # pinned by ops\n    sandbox_image", 1)
	if back := remove(t, Containerd, later, opts()); back != want {
		t.Errorf("got:\n%s\nwant:\n%s", back, want)
	}
}

func TestRemoveDocumentedExceptions(t *testing.T) {
	setDefault := opts(func(o *Options) { o.SetAsDefault = true })
	for _, tc := range []struct {
		name, in, want string
		tg             Target
		o              Options
	}{
		// and its table, left with no key of its own.
		{"a replaced default goes: the engine's own applies", criConfig,
			strings.Replace(criConfig, "    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n      default_runtime_name = \"runc\"\n", "", 1), Containerd, setDefault},
		{"the same for docker", daemonJSON, strings.Replace(daemonJSON, "    \"default-runtime\": \"runc\",\n", "", 1), Docker, setDefault},
		{"and podman", containersConf, strings.Replace(containersConf, "runtime = \"runc\"\n", "", 1), Podman, setDefault},
		{"a version alone", "version = 2\n", "", Containerd, opts()},
		{"an empty table rroctl filled", "[engine]\n", "", Podman, opts()},
		{"an empty runtimes object", "{\n  \"runtimes\": {}\n}", "{}", Docker, opts()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if back := remove(t, tc.tg, edit(t, tc.tg, tc.in, tc.o), tc.o); back != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", back, tc.want)
			}
		})
	}
}

func TestRemoveWhatAnOlderRroctlWrote(t *testing.T) {
	old := "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.rro]\nruntime_type = \"io.containerd.runc.v2\"\npod_annotations = [\"org.rro-runc.*\"]\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.rro.options]\nBinaryName = \"" + testBinary + "\"\n"
	if back := remove(t, Containerd, old, opts()); back != "" {
		t.Errorf("got:\n%s", back)
	}
}

func TestRemoveNothingThere(t *testing.T) {
	for tg, in := range map[Target]string{
		Containerd: criConfig,
		Docker:     daemonJSON,
		Podman:     containersConf,
	} {
		out, err := Remove(tg, "test.conf", []byte(in), opts())
		if err != nil || string(out) != in {
			t.Errorf("%s: %v\n%s", tg, err, UnifiedDiff("in", "out", []byte(in), out))
		}
	}
}

func TestRemoveRefusesWhatIsNotOurs(t *testing.T) {
	const cri = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.rro]\n"
	const ann = "pod_annotations = [\"org.rro-runc.policy\", \"org.rro-runc.exclude\"]\n"
	const rt = "runtime_type = \"io.containerd.runc.v2\"\n"
	const bin = "options = {BinaryName = \"" + testBinary + "\"}\n"
	for _, tc := range []struct {
		name, in string
		tg       Target
		o        Options
	}{
		{"another binary", cri + rt + ann + "options = {BinaryName = \"/opt/other\"}\n", Containerd, opts()},
		{"a setting rroctl never writes", cri + rt + ann + "options = {BinaryName = \"" + testBinary + "\", SystemdCgroup = true}\n", Containerd, opts()},
		{"another runtime type", cri + "runtime_type = \"io.containerd.runsc.v1\"\n" + ann + bin, Containerd, opts()},
		{"other annotations", cri + rt + "pod_annotations = [\"*\"]\n" + bin, Containerd, opts()},
		{"another runc root", cri + rt + ann + "options = {BinaryName = \"" + testBinary + "\", Root = \"/run/a\"}\n", Containerd, opts(func(o *Options) { o.RuncRoot = "/run/b" })},
		{"docker: another path", `{"runtimes": {"rro": {"path": "/opt/other"}}}`, Docker, opts()},
		{"docker: other arguments", `{"runtimes": {"rro": {"path": "` + testBinary + `", "runtimeArgs": ["--debug"]}}}`, Docker, opts()},
		{"docker: another policy", `{"runtimes": {"rro": {"path": "` + testBinary + `", "runtimeArgs": ["--rro-policy=Disabled"]}}}`, Docker, opts(func(o *Options) { o.Policy = "Enabled" })},
		{"docker: not an object", `{"runtimes": {"rro": "/x"}}`, Docker, opts()},
		{"podman: two paths", "[engine.runtimes]\nrro = [\"" + testBinary + "\", \"/usr/bin/rro-runc\"]\n", Podman, opts()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Remove(tc.tg, "/etc/test.conf", []byte(tc.in), tc.o)
			if !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), "/etc/test.conf") {
				t.Fatalf("Remove: %v, want ErrNotOurs naming the file; output:\n%s", err, out)
			}
			t.Log(err)
		})
	}
	// Any policy of rroctl's is rroctl's when none is asked for.
	in := `{"runtimes": {"rro": {"path": "` + testBinary + `", "runtimeArgs": ["--rro-policy=Disabled"]}}}`
	if back := remove(t, Docker, in, opts()); back != "{}" {
		t.Errorf("got %s", back)
	}
}

func TestApplyRemove(t *testing.T) {
	for _, tg := range Targets {
		t.Run(string(tg), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config")
			// A missing file stays missing.
			if res, err := ApplyRemove(tg, path, opts(), false); err != nil || res.Changed {
				t.Fatalf("missing file: %+v %v", res, err)
			}
			if _, err := os.Stat(path); err == nil {
				t.Fatal("ApplyRemove created the file")
			}
			orig := map[Target]string{Containerd: criConfig, Docker: daemonJSON, Podman: containersConf}[tg]
			if err := os.WriteFile(path, []byte(orig), 0o640); err != nil {
				t.Fatal(err)
			}
			if _, err := Apply(tg, path, opts(), false); err != nil {
				t.Fatal(err)
			}
			configured, _ := os.ReadFile(path)
			res, err := ApplyRemove(tg, path, opts(), true)
			if err != nil || !res.Changed || res.Backup != "" || !strings.Contains(res.Diff(), "-") {
				t.Fatalf("dry run: %+v %v", res, err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, configured) {
				t.Fatal("dry run wrote")
			}
			if res, err = ApplyRemove(tg, path, opts(), false); err != nil || !res.Changed || res.Backup == "" {
				t.Fatalf("remove: %+v %v", res, err)
			}
			if b, _ := os.ReadFile(path); string(b) != orig {
				t.Errorf("not the original:\n%s", UnifiedDiff("orig", "now", []byte(orig), b))
			}
			if b, _ := os.ReadFile(res.Backup); !bytes.Equal(b, configured) {
				t.Errorf("backup is not the configured file")
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v", fi.Mode().Perm())
			}
			if res, err = ApplyRemove(tg, path, opts(), false); err != nil || res.Changed || res.Backup != "" {
				t.Errorf("second remove: %+v %v", res, err)
			}
			// Not rroctl's: refused, untouched.
			if _, err := Apply(tg, path, opts(func(o *Options) { o.Binary = "/opt/other" }), false); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			if _, err := ApplyRemove(tg, path, opts(), false); !errors.Is(err, ErrNotOurs) {
				t.Errorf("foreign handler: %v", err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, before) {
				t.Errorf("refused file changed")
			}
		})
	}
}
