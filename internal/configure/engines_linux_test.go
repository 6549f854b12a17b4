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

func TestContainerdReadsResult(t *testing.T) {
	containerd := lookPath(t, "containerd")
	generated, err := exec.Command(containerd, "config", "default").Output()
	if err != nil {
		t.Fatalf("containerd config default: %v", err)
	}
	for name, in := range map[string]string{
		"empty":                   "",
		"user config":             criConfig,
		"containerd's own config": string(generated),
	} {
		t.Run(name, func(t *testing.T) {
			o := opts(func(o *Options) { o.SetAsDefault = true; o.RuncRoot = "/run/rro-runc-test" })
			out := edit(t, Containerd, in, o)
			path := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			dump, err := exec.Command(containerd, "--config", path, "config", "dump").CombinedOutput()
			if err != nil {
				t.Fatalf("containerd config dump: %v\n%s\nconfig:\n%s", err, dump, out)
			}
			m := decodeTOML(t, string(dump))
			for _, c := range []struct {
				path []string
				want any
			}{
				{append(cri2, "default_runtime_name"), "rro"},
				{rtPath(cri2, "rro", "runtime_type"), "io.containerd.runc.v2"},
				{rtPath(cri2, "rro", "pod_annotations"), toAny(PodAnnotations)},
				{rtPath(cri2, "rro", "options", "BinaryName"), testBinary},
				{rtPath(cri2, "rro", "options", "Root"), "/run/rro-runc-test"},
			} {
				if v := get(m, c.path...); !reflect.DeepEqual(v, c.want) {
					t.Errorf("containerd reads %s = %#v, want %#v", tomlKeyPath(c.path), v, c.want)
				}
			}
			if in == criConfig {
				if v := get(m, rtPath(cri2, "runsc", "runtime_type")...); v != "io.containerd.runsc.v1" {
					t.Errorf("containerd lost the runsc runtime: %v", v)
				}
			}
		})
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
