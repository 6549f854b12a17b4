package configure

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The engines themselves read what Edit writes: containerd merges it into
// its configuration, podman picks the runtime from it.

// skipOrFail skips for a missing prerequisite, except under CI=true,
// where a skipped test would hide a broken suite.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: refusing to skip: "+format, args...)
	}
	t.Skipf(format, args...)
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "%s not installed (e2e/setup.sh installs it)", name)
	}
	return p
}

// containerd2 is the containerd 2.x that e2e/setup.sh builds into the
// repository's .cache.
func containerd2(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../.cache/containerd-v2.4.2/bin/containerd")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		skipOrFail(t, "containerd 2.x not built (e2e/setup.sh builds it): %v", err)
	}
	return p
}

// dumpConfig is the configuration containerd reads from text, as
// `containerd config dump` prints it after its own migrations. The file
// is always at the same path: containerd 1.x prints it (imports).
func dumpConfig(t *testing.T, containerd, text string) string {
	t.Helper()
	path := filepath.Join(os.TempDir(), "rro-configure-test-"+strings.ReplaceAll(t.Name(), "/", "_")+".toml")
	t.Cleanup(func() { os.Remove(path) })
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	dump, err := exec.Command(containerd, "--config", path, "config", "dump").Output()
	if err != nil {
		t.Fatalf("%s config dump: %v\nconfig:\n%s", containerd, err, text)
	}
	return string(dump)
}

// TestContainerdReadsResult: containerd 1.x and 2.x read the handler
// Edit writes (into their own default configuration too), and read the
// file Remove gives back exactly as they read the original.
func TestContainerdReadsResult(t *testing.T) {
	for _, engine := range []struct {
		name, bin string
		cri       []string // where the dump shows the handler
	}{
		{"containerd 1.x", lookPath(t, "containerd"), cri2},
		{"containerd 2.x", containerd2(t), []string{"plugins", "io.containerd.cri.v1.runtime", "containerd"}},
	} {
		generated, err := exec.Command(engine.bin, "config", "default").Output()
		if err != nil {
			t.Fatalf("%s config default: %v", engine.bin, err)
		}
		for name, in := range map[string]string{
			"empty":                   "",
			"user config":             criConfig,
			"containerd's own config": string(generated),
		} {
			t.Run(engine.name+"/"+name, func(t *testing.T) {
				o := opts(func(o *Options) { o.SetAsDefault = true; o.RuncRoot = "/run/rro-runc-test" })
				out := edit(t, Containerd, in, o)
				m := decodeTOML(t, dumpConfig(t, engine.bin, out))
				for _, c := range []struct {
					path []string
					want any
				}{
					{append(engine.cri, "default_runtime_name"), "rro"},
					{rtPath(engine.cri, "rro", "runtime_type"), "io.containerd.runc.v2"},
					{rtPath(engine.cri, "rro", "pod_annotations"), toAny(PodAnnotations)},
					{rtPath(engine.cri, "rro", "options", "BinaryName"), testBinary},
					{rtPath(engine.cri, "rro", "options", "Root"), "/run/rro-runc-test"},
				} {
					if v := get(m, c.path...); !reflect.DeepEqual(v, c.want) {
						t.Errorf("containerd reads %s = %#v, want %#v", tomlKeyPath(c.path), v, c.want)
					}
				}
				if in == criConfig {
					if v := get(m, rtPath(engine.cri, "runsc", "runtime_type")...); v != "io.containerd.runsc.v1" {
						t.Errorf("containerd lost the runsc runtime: %v", v)
					}
				}
				back, err := Remove(Containerd, "config.toml", []byte(out), o)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := dumpConfig(t, engine.bin, string(back)), dumpConfig(t, engine.bin, in); got != want {
					t.Errorf("containerd reads the file Remove gave back differently from the original:\n%s", UnifiedDiff("original", "removed", []byte(want), []byte(got)))
				}
			})
		}
	}
}

func TestPodmanReadsResult(t *testing.T) {
	podman := lookPath(t, "podman")
	runc := lookPath(t, "runc")
	dir := t.TempDir()
	conf := filepath.Join(dir, "containers.conf")
	o := opts(func(o *Options) { o.Binary = runc; o.SetAsDefault = true; o.RuntimeName = "rro-test" })
	if err := os.WriteFile(conf, []byte(edit(t, Podman, containersConf, o)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "CONTAINERS_CONF="+conf)

	// Parsing the configuration is the first thing podman does, even
	// for --help.
	cmd := exec.Command(podman, "--help")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("podman rejects the configuration: %v\n%s", err, out)
	}

	// podman info resolves the default runtime; it needs root and gets
	// storage of its own so that nothing outside dir is touched.
	if os.Geteuid() != 0 {
		skipOrFail(t, "podman info needs root")
	}
	storage := filepath.Join(dir, "storage.conf")
	if err := os.WriteFile(storage, []byte("[storage]\ndriver = \"vfs\"\ngraphroot = \""+dir+"/graph\"\nrunroot = \""+dir+"/run\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(podman, "--root", dir+"/graph", "--runroot", dir+"/run", "--tmpdir", dir+"/tmp",
		"--events-backend", "file", "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}")
	cmd.Env = append(env, "CONTAINERS_STORAGE_CONF="+storage)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("podman info: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "rro-test "+runc; got != want {
		t.Errorf("podman's default runtime: %q, want %q", got, want)
	}
}
