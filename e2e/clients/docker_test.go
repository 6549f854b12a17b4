package clients

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/fixture"
)

// setDockerRuntime adds or replaces runtimes.<name> in daemon.json. The
// --add-runtime flag would conflict with a runtimes key in the file.
func setDockerRuntime(t *testing.T, d *fixture.Docker, name, path string, args ...string) {
	t.Helper()
	b, err := os.ReadFile(d.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", d.Config, err)
	}
	runtimes, _ := cfg["runtimes"].(map[string]any)
	if runtimes == nil {
		runtimes = map[string]any{}
	}
	rt := map[string]any{"path": path}
	if len(args) > 0 {
		rt["runtimeArgs"] = args
	}
	runtimes[name] = rt
	cfg["runtimes"] = runtimes
	writeJSON(t, d.Config, cfg)
}

// dockerRun runs the image to completion with runtime and vol at /vol:ro.
func dockerRun(d *fixture.Docker, runtime, vol string, args ...string) (string, error) {
	argv := []string{"run", "--rm", "--network", "none", "-v", vol + ":/vol:ro"}
	if runtime != "" {
		argv = append(argv, "--runtime", runtime)
	}
	argv = append(argv, fixture.ImageRef)
	return d.Docker(append(argv, args...)...)
}
