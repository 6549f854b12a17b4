package clients

import (
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// wantContainerd2 checks that ctr reaches a containerd of
// fixture.Containerd2Version (server side), so that a 1.6 daemon found in
// PATH by mistake cannot pass for 2.x.
func wantContainerd2(t *testing.T, c *fixture.Containerd) {
	t.Helper()
	out := ok(t)(c.Ctr("version"))
	i := strings.Index(out, "Server:")
	if i < 0 {
		t.Fatalf("ctr version: no Server section:\n%s", out)
	}
	server := out[i:]
	if !strings.Contains(server, "Version:  "+strings.TrimPrefix(fixture.Containerd2Version, "v")) {
		t.Fatalf("ctr version: the server is not containerd %s:\n%s", fixture.Containerd2Version, out)
	}
}

// TestContainerd2Ctr is TestContainerdCtr on containerd 2.x (config
// version 3, CRI disabled): `ctr run --runc-binary rro-runc` over runc
// beside plain runc; over crun, which refuses containerd 2.x's spec
// version with and without rro-runc alike (crunRefusesSpec); the refusal under policy
// Enabled in ctr's output, and exec, ps, stop, kill and remove through
// the wrapper.
func TestContainerd2Ctr(t *testing.T) {
	fixture.RequireRoot(t)
	conf := newWrapperConf(t)
	c := fixture.Containerd2(t, fixture.Containerd2Options{Env: conf.env()})
	wantContainerd2(t, c)
	ctrSuite(t, c, conf, crunRefusesSpec)
}

// crunRefusesSpec is what Debian 12's crun 1.8.1 answers to every
// config.json containerd 2.x writes: it accepts ociVersion 1.0.x and
// 1.1.x only (measured here: 1.0.2 and 1.1.0 run, 1.2.0 and 1.3.0 give
// this), and containerd 2.4.2 writes "1.3.0" (runtime-spec v1.3.0).
const crunRefusesSpec = "unknown version specified"

// wantSameCrunRefusal runs a container through the plain crun and through
// rro-runc over crun under policy Enabled (run(runtime, id) creates it
// with the client), and checks that both fail with crun's own refusal:
// rro-runc neither hides it nor adds to it. Under Enabled, crun's error
// instead of rro-runc's proves that rro-runc decided, by crun's version,
// that crun does rro, and handed the rewritten bundle on.
func wantSameCrunRefusal(t *testing.T, want string, conf *wrapperConf, rro, crun string, run func(runtime, id string) (string, error)) {
	t.Helper()
	plainOut, plainErr := run(crun, "plain-crun")
	conf.set(t, "Enabled", crun)
	t.Cleanup(func() { conf.set(t, "IfPossible", fixture.Runc(t)) })
	rroOut, rroErr := run(rro, "rro-crun")
	for _, r := range []struct {
		name, out string
		err       error
	}{{"plain crun", plainOut, plainErr}, {"rro-runc over crun", rroOut, rroErr}} {
		if r.err == nil {
			t.Errorf("%s: want crun's refusal %q, the container ran:\n%s", r.name, want, r.out)
			continue
		}
		t.Logf("%s: the client reports: %s", r.name, lastLine(r.out))
		if !strings.Contains(r.out, "OCI runtime create failed: "+want) {
			t.Errorf("%s: want \"OCI runtime create failed: %s\", got:\n%s", r.name, want, r.out)
		}
		if strings.Contains(r.out, "rro-runc") {
			t.Errorf("%s: rro-runc added a message of its own:\n%s", r.name, r.out)
		}
	}
	if a, b := lastLine(plainOut), lastLine(rroOut); a != b {
		t.Errorf("the client's error differs with rro-runc:\nplain crun:  %s\nrro-runc:    %s", a, b)
	}
}

// lastLine is the last non-empty line of s: a client's error, after the
// warnings containerd 2.x prints about cgroup v1.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
