package clients

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// configure installs rro-runc into a client's private configuration file
// the way a user does: `rroctl configure CLIENT --config FILE --binary
// RRO-RUNC [extra...]`, and checks that a second run changes nothing.
func configure(t *testing.T, client, config, binary string, extra ...string) {
	t.Helper()
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
