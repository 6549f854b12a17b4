package clients

import (
	"testing"

	"github.com/rro-runc/rro-runc/e2e/fixture"
)

// startCtrContainerd starts a containerd without CRI and imports the image.
func startCtrContainerd(t *testing.T) *fixture.Containerd {
	t.Helper()
	c := fixture.NewContainerd(t, false)
	c.Start(t)
	ok(t)(c.Ctr("image", "import", fixture.ImageTar(t)))
	return c
}

// ctrRun runs the image to completion with `ctr run --rm --runc-binary`:
// without CRI, ctr cannot pick a runtime handler by name.
func ctrRun(c *fixture.Containerd, runtime, id, vol string, args ...string) (string, error) {
	argv := []string{"run", "--rm", "--runc-binary", runtime, "--runc-root", c.RuncRoot, "--fifo-dir", c.FifoDir,
		"--mount", "type=bind,src=" + vol + ",dst=/vol,options=rbind:ro",
		fixture.ImageRefFull, id}
	return c.Ctr(append(argv, args...)...)
}
