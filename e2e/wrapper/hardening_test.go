package wrapper

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// sharedVolume returns a host directory H that is a shared mount of its
// own, holding a tmpfs at H/sub with an empty directory H/sub/late: a
// mount the host makes at H/sub/late later propagates to every slave copy
// of H/sub. The machine's own mounts may be private, so the test makes
// the sharing it needs rather than relying on the host's.
func sharedVolume(t *testing.T) string {
	t.Helper()
	h := filepath.Join(t.TempDir(), "vol")
	sub := filepath.Join(h, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fixture.UnmountUnder(t, h) })
	if err := unix.Mount(h, h, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on itself: %v", h, err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "mode=0755,size=4m"); err != nil {
		t.Fatalf("mount tmpfs at %s: %v", sub, err)
	}
	if err := os.Mkdir(filepath.Join(sub, "late"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", h, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		t.Fatalf("make %s rshared: %v", h, err)
	}
	return h
}

// lateProbe runs inside the container after the host mounted a tmpfs with
// a file "late-marker" at H/sub/late: whether that mount arrived, and
// whether /vol/sub/late is writable.
const lateProbe = `if [ -e /vol/sub/late/late-marker ]; then echo "late mount: VISIBLE"; else echo "late mount: ABSENT"; fi
if /bin/touch /vol/sub/late/probe 2>/dev/null; then echo "/vol/sub/late: WRITABLE"; else echo "/vol/sub/late: NOT WRITABLE"; fi`

// TestHardeningStrictPropagationLateMount is issue 10's first finding with
// a real container: under Enabled with strict propagation, a read-only
// volume given only the non-recursive "private" must stay read-only all
// the way down for the container's life. The host mounts a tmpfs under
// the volume's submount after the container started; it must not arrive
// writable. The control runs plain runc with what the old rule wrote
// (rbind,ro,private,rro) and shows that mount arriving, writable.
func TestHardeningStrictPropagationLateMount(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc, _ := fixture.Binaries(t)
	runtime := fixture.Runc(t)
	root := stateRoot(t, runtime)
	rootfs := fixture.Rootfs(t)

	// start creates and starts a sleeping container over a fresh shared
	// volume with the given options, mounts the late tmpfs on the host,
	// and returns what lateProbe saw inside.
	start := func(t *testing.T, bin string, env []string, options ...string) (string, *specs.Spec) {
		vol := sharedVolume(t)
		m := specs.Mount{Destination: "/vol", Type: "bind", Source: vol, Options: options}
		bundle := fixture.Bundle(t, rootfs, []specs.Mount{m}, "/bin/sleep", "60")
		id := containerID(t)
		if _, errOut, code := run(t, env, bin, "--root", root, "create", "--bundle", bundle, id); code != 0 {
			t.Fatalf("%s create: exit %d: %s", filepath.Base(bin), code, errOut)
		}
		if _, errOut, code := run(t, nil, runtime, "--root", root, "start", id); code != 0 {
			t.Fatalf("runc start: exit %d: %s", code, errOut)
		}
		late := filepath.Join(vol, "sub", "late")
		if err := unix.Mount("tmpfs", late, "tmpfs", 0, "mode=0755,size=1m"); err != nil {
			t.Fatalf("host: mount tmpfs at %s after start: %v", late, err)
		}
		if err := os.WriteFile(filepath.Join(late, "late-marker"), []byte("late\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := run(t, nil, runtime, "--root", root, "exec", id, "/bin/sh", "-c", lateProbe)
		if code != 0 {
			t.Fatalf("runc exec: exit %d: %s", code, errOut)
		}
		run(t, nil, runtime, "--root", root, "delete", "--force", id)
		return out, fixture.ReadSpec(t, bundle)
	}

	t.Run("control: plain runc with the old rule's rbind,ro,private,rro", func(t *testing.T) {
		out, _ := start(t, runtime, nil, "rbind", "ro", "private", "rro")
		if !strings.Contains(out, "late mount: VISIBLE") || !strings.Contains(out, "/vol/sub/late: WRITABLE") {
			t.Fatalf("the late host mount did not arrive writable through a private-only rro volume, so this machine cannot show the finding:\n%s", out)
		}
	})
	t.Run("rro-runc Enabled strict with rbind,ro,private", func(t *testing.T) {
		cfg := wrapperConfig(t, fmt.Sprintf("policy = \"Enabled\"\npropagation = \"strict\"\nruntime = %q\n", runtime))
		out, spec := start(t, rroRunc, []string{"RRO_RUNC_CONFIG=" + cfg}, "rbind", "ro", "private")
		for _, m := range spec.Mounts {
			if m.Destination == "/vol" && strings.Join(m.Options, ",") != "rbind,ro,private,rro,rprivate" {
				t.Errorf("/vol options after create = %q, want rbind,ro,private,rro,rprivate", m.Options)
			}
		}
		if !strings.Contains(out, "late mount: ABSENT") || !strings.Contains(out, "/vol/sub/late: NOT WRITABLE") {
			t.Fatalf("a host mount made after start arrived under the Enabled volume, or it is writable:\n%s", out)
		}
	})
}
