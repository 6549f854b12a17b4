package clients

import (
	"testing"

	"github.com/rro-runc/rro-runc/e2e/fixture"
)

// newPodman returns a podman with the image loaded.
func newPodman(t *testing.T) *fixture.Podman {
	t.Helper()
	p := fixture.NewPodman(t)
	p.LoadImage(t)
	return p
}

// podmanRun runs the image to completion with runtime (a name from
// containers.conf or a path; "" for the default) and vol at /vol:ro.
func podmanRun(p *fixture.Podman, runtime, vol string, args ...string) (string, error) {
	var argv []string
	if runtime != "" {
		argv = append(argv, "--runtime", runtime)
	}
	argv = append(argv, "run", "--rm", "--network", "none", "-v", vol+":/vol:ro", fixture.ImageRef)
	return p.Podman(append(argv, args...)...)
}
