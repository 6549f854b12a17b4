package clients

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// TestRootlessPodman runs Podman 4.3 rootless, as a user the test makes
// (subordinate ids, vfs storage), with rro-runc installed and configured
// the way a user without root does it: the binaries in ~/.local/bin and
// `rroctl configure podman --config ~/.config/containers/containers.conf
// --set-as-default`, run as that user. The host volume holds tmpfs
// submounts that root mounted before the user's first podman command.
func TestRootlessPodman(t *testing.T) {
	fixture.RequireRoot(t)
	u := fixture.NewRootlessUser(t)
	vol := fixture.NestedVolumeOwnedBy(t, u.UID, u.GID)
	p := fixture.NewRootlessPodman(t, u)
	rro := u.Install(t, fixture.RroRunc(t), ".local/bin/rro-runc")
	rroctl := u.Install(t, fixture.Rroctl(t), ".local/bin/rroctl")
	argv := []string{rroctl, "configure", "podman", "--config", p.Conf, "--binary", rro, "--set-as-default"}
	out, err := u.Run(nil, argv...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	conf, _ := os.ReadFile(p.Conf)
	t.Logf("as %s: %s\n%s\n%s", u.Name, strings.Join(argv, " "), out, conf)
	p.LoadImage(t)

	run := func(flags ...string) (string, error) {
		args := append(flags, "run", "--rm", "--network", "none", "-v", vol+":/vol:ro", fixture.ImageRef)
		return p.Podman(append(args, probeArgs...)...)
	}
	t.Run("plain runc leaves submounts writable", func(t *testing.T) {
		fixture.CheckProbe(t, ok(t)(run("--runtime", "runc")), fixture.WantPlain)
	})
	t.Run("rro-runc makes submounts read-only", func(t *testing.T) {
		fixture.CheckProbe(t, ok(t)(run()), fixture.WantRRO)
	})
	t.Run("policy Enabled without rro fails visibly", func(t *testing.T) {
		out, err := run("--runtime-flag", "rro-policy=Enabled", "--runtime-flag", "rro-runtime="+fixture.FakeRuntimeNoRRO(t))
		wantWrapperError(t, out, err, "OCI runtime error: rro: ")
	})
	t.Run("probe cache: a warm create starts no process but the runtime", func(t *testing.T) {
		// The runtime behind rro-runc is runc behind a script that logs
		// who started it: a probe is a child of rro-runc, the create
		// itself is rro-runc's exec (same process, started by conmon).
		// A runtime path this user never ran makes the first create cold.
		logf := filepath.Join(u.Home, "runtime.log")
		logged := u.WriteFile(t, ".local/bin/runc-logged", []byte(fmt.Sprintf(`#!/bin/sh
echo "$(cat /proc/$PPID/comm) $*" >>%s
exec %s "$@"
`, logf, fixture.Runc(t))), 0o755)
		flag := []string{"--runtime-flag", "rro-runtime=" + logged}
		probes := func(what string) []string {
			t.Helper()
			b, err := os.ReadFile(logf)
			if err != nil {
				t.Fatalf("%s: the runtime left no log: %v", what, err)
			}
			var started []string
			creates := 0
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if strings.HasPrefix(l, "rro-runc ") {
					started = append(started, l)
				} else if strings.Contains(" "+l+" ", " create ") {
					creates++
				}
			}
			if creates != 1 {
				t.Errorf("%s: want one create exec'd by rro-runc, the runtime's log has %d:\n%s", what, creates, b)
			}
			if err := os.Truncate(logf, 0); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: runtime calls:\n%s", what, b)
			return started
		}
		fixture.CheckProbe(t, ok(t)(run(flag...)), fixture.WantRRO)
		if cold := probes("cold create"); len(cold) == 0 {
			t.Errorf("cold create: rro-runc started no probe of a runtime it never saw: the check below could not fail")
		}
		fixture.CheckProbe(t, ok(t)(run(flag...)), fixture.WantRRO)
		if warm := probes("warm create"); len(warm) > 0 {
			t.Errorf("warm create: rro-runc started %v: the probe cache did not serve the unprivileged caller", warm)
		}
		t.Logf("probe cache files of %s: %v", u.Name, cacheFilesOf(u.UID, u.Home, "/tmp", "/run/user", "/var/tmp", "/run/rro-runc"))
	})
}

// cacheFilesOf lists rro-runc's probe cache files (runtime-*.json) under
// dirs that uid owns: where the rootless cache went.
func cacheFilesOf(uid int, dirs ...string) []string {
	var found []string
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if e.IsDir() && (e.Name() == "storage" || e.Name() == "overlay" || e.Name() == "vfs") {
				return fs.SkipDir
			}
			var st syscall.Stat_t
			if strings.HasPrefix(e.Name(), "runtime-") && strings.HasSuffix(e.Name(), ".json") &&
				syscall.Lstat(path, &st) == nil && int(st.Uid) == uid {
				found = append(found, path)
			}
			return nil
		})
	}
	return found
}
