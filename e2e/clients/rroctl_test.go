package clients

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/fixture"
)

// configure installs rro-runc into a client's private configuration file
// the way a user does: `rroctl configure CLIENT --config FILE --binary
// RRO-RUNC [extra...]`, and checks that a second run changes nothing.
func configure(t *testing.T, client, config, binary string, extra ...string) {
	t.Helper()
	if !rroctlAvailable(t) {
		// TODO(issue 3): remove once cmd/rroctl configure lands; until then
		// the configuration is written by hand as rroctl will.
		t.Logf("rroctl has no configure command yet: configuring %s by hand", client)
		configureByHand(t, client, config, binary, extra...)
		return
	}
	rroctl := fixture.Rroctl(t)
	argv := append([]string{"configure", client, "--config", config, "--binary", binary}, extra...)
	runRroctl := func() {
		t.Helper()
		cmd := exec.Command(rroctl, argv...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rroctl %s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	runRroctl()
	first, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	runRroctl()
	if second, _ := os.ReadFile(config); string(second) != string(first) {
		t.Errorf("rroctl configure %s is not idempotent: a second run changed %s", client, config)
	}
	t.Logf("rroctl configure %s wrote %s:\n%s", client, config, first)
}

// rroctlAvailable reports whether rroctl has a configure command yet.
func rroctlAvailable(t *testing.T) bool {
	t.Helper()
	if os.Getenv(fixture.EnvRroctlBin) == "" {
		if _, err := os.Stat(filepath.Join(fixture.ModuleRoot(t), "cmd", "rroctl")); err != nil {
			return false
		}
	}
	return exec.Command(fixture.Rroctl(t), "configure", "--help").Run() == nil
}

func configureByHand(t *testing.T, client, config, binary string, extra ...string) {
	t.Helper()
	name, setDefault, pol := "rro", false, ""
	for i, a := range extra {
		switch {
		case a == "--policy" && i+1 < len(extra):
			pol = extra[i+1]
		case a == "--runtime-name" && i+1 < len(extra):
			name = extra[i+1]
		case strings.HasPrefix(a, "--runtime-name="):
			name = strings.TrimPrefix(a, "--runtime-name=")
		case a == "--set-as-default":
			setDefault = true
		}
	}
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	switch client {
	case "containerd":
		s += `
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.` + name + `]
  runtime_type = "io.containerd.runc.v2"
  pod_annotations = ["org.rro-runc.*"]
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.` + name + `.options]
    BinaryName = "` + binary + `"
`
	case "docker":
		var args []string
		if pol != "" {
			args = append(args, "--rro-policy="+pol)
		}
		setDockerRuntimeFile(t, config, name, binary, args...)
		return
	case "podman":
		line := "runtime_supports_json = [\"crun\", \"runc\", \"" + name + "\"]\n"
		if setDefault {
			s = strings.Replace(s, "runtime = \"runc\"\n", "runtime = \""+name+"\"\n"+line, 1)
		} else {
			s = strings.Replace(s, "runtime = \"runc\"\n", "runtime = \"runc\"\n"+line, 1)
		}
		s += "\n[engine.runtimes]\n" + name + " = [\"" + binary + "\"]\n"
	}
	if err := os.WriteFile(config, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
