package clients

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

var update = flag.Bool("update", false, "rewrite testdata/clients/*.json from the real clients")

// TestCaptureConfigs runs each client with a runtime that records the
// bundle's config.json, for `-v H:/vol:ro`. The rewrite package's tests
// iterate over testdata/clients: this test keeps those files honest by
// checking that each client still writes the /vol mount recorded there,
// and with -update records them anew.
func TestCaptureConfigs(t *testing.T) {
	fixture.RequireRoot(t)
	testdata := filepath.Join(fixture.ModuleRoot(t), "testdata", "clients")

	for _, tc := range []struct {
		client string
		run    func(t *testing.T, runtime, vol string) string // returns the capture dir
	}{
		{"ctr", func(t *testing.T, runtime, vol string) string {
			c := startCtrContainerd(t)
			ok(t)(ctrRun(c, runtime, "capture", vol, "/bin/true"))
			return ""
		}},
		{"cri", func(t *testing.T, runtime, vol string) string {
			c := startCRIContainerd(t, func(c *fixture.Containerd) { addCRIHandler(t, c, "capture", runtime) })
			pod, err := runPod(t, c, "capture", "capture")
			if err != nil {
				t.Fatal(err)
			}
			if out, err := pod.runToCompletion(t, "capture", vol, "/bin/true"); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			return ""
		}},
		{"docker", func(t *testing.T, runtime, vol string) string {
			d := fixture.NewDocker(t)
			setDockerRuntime(t, d, "capture", runtime)
			d.Start(t)
			d.LoadImage(t)
			ok(t)(dockerRun(d, "capture", vol, "/bin/true"))
			return ""
		}},
		{"podman", func(t *testing.T, runtime, vol string) string {
			p := newPodman(t)
			ok(t)(podmanRun(p, runtime, vol, "/bin/true"))
			return ""
		}},
	} {
		t.Run(tc.client, func(t *testing.T) {
			script, dir := fixture.CapturingRuntime(t, "")
			vol := fixture.NestedVolume(t)
			tc.run(t, script, vol)
			got := capturedWithVol(t, dir)
			golden := filepath.Join(testdata, tc.client+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", golden)
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (record it with: go test ./e2e/clients -run Capture -update)", err)
			}
			g, w := volMount(t, got), volMount(t, want)
			if g.Type != w.Type || !slices.Equal(g.Options, w.Options) {
				t.Errorf("%s now writes /vol as type %q options %q; %s records type %q options %q",
					tc.client, g.Type, g.Options, golden, w.Type, w.Options)
			}
		})
	}
}
