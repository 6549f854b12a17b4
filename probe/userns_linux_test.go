package probe

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDefaultDirInUserNamespace: rootless Podman starts the runtime as
// uid 0 of the user's namespace, with XDG_RUNTIME_DIR set to the user's.
// That caller is the user, not root: its cache goes to
// $XDG_RUNTIME_DIR/rro-runc. Root in the initial namespace keeps
// /run/rro-runc even with a login's XDG_RUNTIME_DIR, and so does root of
// a namespace without one.
func TestDefaultDirInUserNamespace(t *testing.T) {
	requireRoot(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("unshare (util-linux) missing, and CI=true")
		}
		t.Skip("unshare missing")
	}
	bin := mustExecutable(t)
	for _, tc := range []struct {
		name   string
		userns bool
		xdg    string
		want   string
	}{
		{"root of a user namespace with XDG_RUNTIME_DIR", true, "/tmp/podman-run-1000", "/tmp/podman-run-1000/rro-runc"},
		{"root of a user namespace without", true, "", DefaultCacheDir},
		{"root with a login's XDG_RUNTIME_DIR", false, "/run/user/0", DefaultCacheDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := []string{bin, "-test.run=^TestHelperDefaultDir$"}
			if tc.userns {
				argv = append([]string{unshare, "--user", "--map-root-user"}, argv...)
			}
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = []string{"PATH=/usr/bin:/bin", "PROBE_DEFAULT_DIR_HELPER=1"}
			if tc.xdg != "" {
				cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+tc.xdg)
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
			}
			got := ""
			for _, l := range strings.Split(string(out), "\n") {
				if d, ok := strings.CutPrefix(l, "DIR="); ok {
					got = d
				}
			}
			if got != tc.want {
				t.Errorf("DefaultDir = %q, want %q (output %q)", got, tc.want, out)
			}
		})
	}
}

// TestHelperDefaultDir prints DefaultDir for TestDefaultDirInUserNamespace.
func TestHelperDefaultDir(t *testing.T) {
	if os.Getenv("PROBE_DEFAULT_DIR_HELPER") != "1" {
		t.Skip("helper of TestDefaultDirInUserNamespace")
	}
	fmt.Printf("DIR=%s\n", DefaultDir(os.Getenv))
}
