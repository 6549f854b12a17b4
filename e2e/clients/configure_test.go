package clients

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// TestConfigureContainerdAnnotations runs containerd's CRI plugin with the
// handler `rroctl configure containerd` writes and asks containerd what
// it passes to the runtime: a pod's org.rro-runc.policy goes through, a
// pod's org.rro-runc.applied (rro-runc's own record, which a pod must
// never be able to forge) does not. A handler with the org.rro-runc.*
// an older rroctl wrote is the control: it lets the forged record
// through. Then `rroctl configure containerd --remove` gives back the
// config file byte for byte. With containerd 1.x and 2.x (which reads the
// version 2 file through its own migration).
func TestConfigureContainerdAnnotations(t *testing.T) {
	fixture.RequireRoot(t)
	bin2, err := filepath.Abs(filepath.Join(fixture.ModuleRoot(t), ".cache/containerd-v2.4.2/bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range []struct{ name, path, server string }{
		{"containerd 1.x", "", "Version:  1."},
		{"containerd 2.x", bin2, "Version:  2."},
	} {
		t.Run(engine.name, func(t *testing.T) {
			if engine.path != "" {
				if _, err := os.Stat(filepath.Join(engine.path, "containerd")); err != nil {
					fixture.SkipOrFail(t, "containerd 2.x not built (e2e/setup.sh builds it): %v", err)
				}
				t.Setenv("PATH", engine.path+":"+os.Getenv("PATH"))
			}
			testConfigureAnnotations(t, engine.server)
		})
	}
}

func testConfigureAnnotations(t *testing.T, server string) {
	rro := fixture.RroRunc(t)
	c := fixture.NewContainerd(t, true)
	c.Env = newWrapperConf(t).env()
	f, err := os.OpenFile(c.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.legacy]\n  runtime_type = \"io.containerd.runc.v2\"\n  pod_annotations = [\"org.rro-runc.*\"]\n  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.legacy.options]\n    BinaryName = %q\n", rro)
	f.Close()
	before, err := os.ReadFile(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	configure(t, "containerd", c.Config, rro)
	c.Start(t)
	if v := ok(t)(c.Ctr("version")); !strings.Contains(v[strings.Index(v, "Server:"):], server) {
		t.Fatalf("not the containerd this test is about (want %q):\n%s", server, v)
	}
	ok(t)(c.CtrNS("k8s.io", "image", "import", fixture.ImageTar(t)))

	annotations := map[string]string{
		"org.rro-runc.policy":  "Enabled",
		"org.rro-runc.applied": "/forged",
		"example.com/other":    "x",
	}
	// specAnnotations creates a pod and a container through handler and
	// returns the annotations of the OCI spec containerd made for it.
	specAnnotations := func(t *testing.T, handler string) map[string]string {
		t.Helper()
		dir := t.TempDir()
		pod := filepath.Join(dir, "pod.json")
		writeJSON(t, pod, map[string]any{
			"metadata":      map[string]any{"name": "ann-" + handler, "namespace": "default", "uid": "ann-" + handler, "attempt": 0},
			"annotations":   annotations,
			"log_directory": filepath.Join(dir, "logs"),
			"linux":         map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}},
		})
		id := strings.TrimSpace(ok(t)(c.Crictl("runp", "--runtime", handler, pod)))
		t.Cleanup(func() {
			_, _ = c.Crictl("stopp", id)
			_, _ = c.Crictl("rmp", "--force", id)
		})
		ctr := filepath.Join(dir, "ctr.json")
		writeJSON(t, ctr, map[string]any{
			"metadata": map[string]any{"name": "c"},
			"image":    map[string]any{"image": fixture.ImageRefFull},
			"command":  []string{"/bin/true"},
			"log_path": "c.log",
			"linux":    map[string]any{},
		})
		cid := strings.TrimSpace(ok(t)(c.Crictl("create", id, ctr, pod)))
		var info struct {
			Info struct {
				RuntimeSpec struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"runtimeSpec"`
			} `json:"info"`
		}
		out := ok(t)(c.Crictl("inspect", "-o", "json", cid))
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatalf("crictl inspect: %v\n%s", err, out)
		}
		return info.Info.RuntimeSpec.Annotations
	}

	t.Run("rroctl's handler passes policy, not the applied record", func(t *testing.T) {
		got := specAnnotations(t, "rro")
		if got["org.rro-runc.policy"] != "Enabled" {
			t.Errorf("org.rro-runc.policy did not reach the runtime: %v", got)
		}
		for _, k := range []string{"org.rro-runc.applied", "example.com/other"} {
			if v, present := got[k]; present {
				t.Errorf("%s=%q reached the runtime from the pod", k, v)
			}
		}
	})
	t.Run("control: the old org.rro-runc.* lets a pod forge the record", func(t *testing.T) {
		if got := specAnnotations(t, "legacy"); got["org.rro-runc.applied"] != "/forged" {
			t.Errorf("the control did not pass the forged record; the test would not see it: %v", got)
		}
	})

	rroctl := fixture.Rroctl(t)
	out, err := exec.Command(rroctl, "configure", "containerd", "--config", c.Config, "--binary", rro, "--remove").CombinedOutput()
	if err != nil {
		t.Fatalf("rroctl configure containerd --remove: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(c.Config); string(after) != string(before) {
		t.Errorf("--remove did not give back the config:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// TestConfigureDocker: dockerd 20.10 runs with the runtime `rroctl
// configure docker --set-as-default` writes into a daemon.json that has
// settings of its own, and after `--remove` the file is byte for byte the
// original, which a dockerd reads with no trace of rro-runc. Run it under
// flock /tmp/rro-docker.lock (it starts dockerd).
func TestConfigureDocker(t *testing.T) {
	fixture.RequireRoot(t)
	rro := fixture.RroRunc(t)
	d := fixture.NewDocker(t)
	orig := "{\n    \"log-level\": \"warn\",\n    \"shutdown-timeout\": 20\n}\n"
	if err := os.WriteFile(d.Config, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	configure(t, "docker", d.Config, rro, "--set-as-default", "--policy", "IfPossible")
	d.Start(t)
	type runtime struct {
		Path string   `json:"path"`
		Args []string `json:"runtimeArgs"`
	}
	info := func(d *fixture.Docker) (def string, runtimes map[string]runtime) {
		t.Helper()
		def = strings.TrimSpace(ok(t)(d.Docker("info", "--format", "{{.DefaultRuntime}}")))
		out := ok(t)(d.Docker("info", "--format", "{{json .Runtimes}}"))
		if err := json.Unmarshal([]byte(out), &runtimes); err != nil {
			t.Fatalf("docker info: %v\n%s", err, out)
		}
		return def, runtimes
	}
	def, runtimes := info(d)
	if rt := runtimes["rro"]; def != "rro" || rt.Path != rro || strings.Join(rt.Args, " ") != "--rro-policy=IfPossible" {
		t.Errorf("dockerd reads default %q, runtimes %+v", def, runtimes)
	}

	rroctl := fixture.Rroctl(t)
	out, err := exec.Command(rroctl, "configure", "docker", "--config", d.Config, "--binary", rro, "--remove").CombinedOutput()
	if err != nil {
		t.Fatalf("rroctl configure docker --remove: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(d.Config)
	if string(after) != orig {
		t.Fatalf("--remove did not give back daemon.json:\n--- before\n%s\n--- after\n%s", orig, after)
	}
	d2 := fixture.NewDocker(t)
	if err := os.WriteFile(d2.Config, after, 0o644); err != nil {
		t.Fatal(err)
	}
	d2.Start(t)
	if def, runtimes := info(d2); def != "runc" || runtimes["rro"].Path != "" {
		t.Errorf("after --remove dockerd reads default %q, runtimes %+v", def, runtimes)
	}
}
