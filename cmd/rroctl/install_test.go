package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rro-runc/rro-runc/internal/treesnap"
)

// node is a fake node root with a source directory of "binaries" to
// install (their content is all install looks at).
type node struct {
	root, src string
}

const containerdConf = `# the node's own containerd config
version = 3
root = "/var/lib/containerd"

[plugins]
  # the user's comment
  [plugins."io.containerd.cri.v1.runtime"]
    enable_selinux = false
`

func newNode(t *testing.T) *node {
	t.Helper()
	n := &node{root: t.TempDir(), src: t.TempDir()}
	writeT(t, filepath.Join(n.root, "etc/containerd/config.toml"), containerdConf)
	if err := os.MkdirAll(filepath.Join(n.root, "usr/local/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeT(t, filepath.Join(n.root, "usr/local/bin/other-tool"), "not ours\n")
	n.build(t, "1")
	return n
}

// build puts build number b of the binaries into the source directory.
func (n *node) build(t *testing.T, b string) {
	t.Helper()
	for _, name := range []string{"rro-runc", "rroctl"} {
		writeT(t, filepath.Join(n.src, name), "#!/bin/sh\n# "+name+" build "+b+"\n")
	}
}

func writeT(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
}

func (n *node) install(t *testing.T, extra ...string) (string, string, int) {
	t.Helper()
	return runApp(t, append([]string{"install", "--host-root", n.root, "--source", n.src}, extra...)...)
}

func (n *node) uninstall(t *testing.T, extra ...string) (string, string, int) {
	t.Helper()
	return runApp(t, append([]string{"uninstall", "--host-root", n.root}, extra...)...)
}

// snapshot is treesnap.Take, failing t on error.
func snapshot(t *testing.T, root string, inodes bool) map[string]string {
	t.Helper()
	m, err := treesnap.Take(root, inodes)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameTree(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for _, d := range treesnap.Diff(want, got) {
		t.Errorf("%s: %s", what, d)
	}
}

func TestInstallUninstallContainerd(t *testing.T) {
	n := newNode(t)
	before := snapshot(t, n.root, false)

	stdout, stderr, code := n.install(t, "--engine", "containerd", "--policy", "enabled")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"installed /usr/local/bin/rro-runc\n", "installed /usr/local/bin/rroctl\n",
		"wrote /etc/rro-runc/config.toml (policy Enabled)\n",
		"configured containerd runtime \"rro\" in /etc/containerd/config.toml (BinaryName /usr/local/bin/rro-runc)\n",
		"to apply, run on the host: systemctl restart containerd\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("install output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, n.root) && !strings.HasPrefix(stdout, "host root "+n.root+"\n") {
		t.Errorf("install shows the installer's paths, not the host's:\n%s", stdout)
	}
	cfg := readT(t, filepath.Join(n.root, "etc/containerd/config.toml"))
	if !strings.Contains(cfg, `BinaryName = "/usr/local/bin/rro-runc"`) || strings.Contains(cfg, n.root) ||
		!strings.Contains(cfg, "# the user's comment") || !strings.Contains(cfg, `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.rro]`) {
		t.Errorf("engine config:\n%s", cfg)
	}
	if got := readT(t, filepath.Join(n.root, "usr/local/bin/rro-runc")); got != readT(t, filepath.Join(n.src, "rro-runc")) {
		t.Errorf("installed rro-runc differs from the source")
	}
	if fi, err := os.Stat(filepath.Join(n.root, "usr/local/bin/rro-runc")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("installed rro-runc: %v %v", fi.Mode(), err)
	}
	if conf := readT(t, filepath.Join(n.root, "etc/rro-runc/config.toml")); !strings.Contains(conf, "\npolicy = \"Enabled\"\n") {
		t.Errorf("config.toml:\n%s", conf)
	}
	var st installState
	if err := json.Unmarshal([]byte(readT(t, filepath.Join(n.root, stateFile[1:]))), &st); err != nil {
		t.Fatal(err)
	}
	if rec := st.Engines["containerd"]; rec == nil || string(rec.Before) != containerdConf || string(rec.After) != cfg || !rec.Added || !rec.Restorable {
		t.Errorf("install record of the engine: %+v", rec)
	}
	if len(st.Binaries) != 2 || st.Binaries[0].SHA256 != sha256Hex([]byte(readT(t, filepath.Join(n.src, "rro-runc")))) {
		t.Errorf("install record of the binaries: %+v", st.Binaries)
	}

	// Idempotent: nothing is rewritten, not even in place.
	installed := snapshot(t, n.root, true)
	stdout, stderr, code = n.install(t, "--engine", "containerd")
	if code != 0 || !strings.HasSuffix(stdout, "no change: already installed\n") || strings.Contains(stdout, "systemctl") {
		t.Fatalf("second install: exit %d:\n%s%s", code, stdout, stderr)
	}
	sameTree(t, "second install", installed, snapshot(t, n.root, true))

	// Uninstall removes config.toml while it is exactly what install
	// wrote: the node is as it was.
	stdout, stderr, code = n.uninstall(t, "--engine", "containerd")
	if code != 0 {
		t.Fatalf("uninstall: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"restored /etc/containerd/config.toml as it was before install (runtime \"rro\" removed)\n",
		"removed /usr/local/bin/rro-runc\n", "removed /usr/local/bin/rroctl\n",
		"removed /etc/rro-runc/config.toml (as install wrote it)\n",
		"to apply, run on the host: systemctl restart containerd\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("uninstall output lacks %q:\n%s", want, stdout)
		}
	}
	if got := readT(t, filepath.Join(n.root, "etc/containerd/config.toml")); got != containerdConf {
		t.Errorf("engine config not restored byte for byte:\n%s", got)
	}
	sameTree(t, "install then uninstall", before, snapshot(t, n.root, false))
	stdout, _, code = n.uninstall(t, "--purge")
	if code != 0 || !strings.Contains(stdout, "no change: nothing installed") {
		t.Errorf("uninstall after uninstall: exit %d:\n%s", code, stdout)
	}

	// An administrator's edit makes config.toml theirs: kept, until
	// --purge.
	if _, stderr, code := n.install(t, "--engine", "containerd"); code != 0 {
		t.Fatalf("install: %s", stderr)
	}
	conf := filepath.Join(n.root, "etc/rro-runc/config.toml")
	if err := os.WriteFile(conf, []byte(readT(t, conf)+"# the admin's edit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = n.uninstall(t, "--engine", "containerd")
	if code != 0 || !strings.Contains(stdout, "kept /etc/rro-runc/config.toml (changed since install; --purge removes it)\n") {
		t.Fatalf("uninstall of an edited config.toml: exit %d:\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(readT(t, conf), "# the admin's edit") {
		t.Errorf("uninstall changed the administrator's config.toml")
	}
	os.Remove(conf)
	os.Remove(filepath.Dir(conf))

	// With --purge, an edited config.toml install wrote goes too.
	if _, stderr, code := n.install(t, "--engine", "containerd"); code != 0 {
		t.Fatalf("install: %s", stderr)
	}
	if err := os.WriteFile(conf, []byte(readT(t, conf)+"# the admin's edit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = n.uninstall(t, "--engine", "containerd", "--purge")
	if code != 0 || !strings.Contains(stdout, "removed /etc/rro-runc/config.toml (purged)\n") {
		t.Fatalf("uninstall --purge: exit %d:\n%s%s", code, stdout, stderr)
	}
	sameTree(t, "install then uninstall --purge", before, snapshot(t, n.root, false))
}

func readT(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInstallUpgradeAndForeignBinaries(t *testing.T) {
	n := newNode(t)
	if _, stderr, code := n.install(t, "--engine", "containerd"); code != 0 {
		t.Fatal(stderr)
	}
	n.build(t, "2")
	stdout, stderr, code := n.install(t, "--engine", "containerd")
	if code != 0 || !strings.Contains(stdout, "upgraded /usr/local/bin/rro-runc\n") || strings.Contains(stdout, "no change") {
		t.Fatalf("upgrade: exit %d:\n%s%s", code, stdout, stderr)
	}
	if got := readT(t, filepath.Join(n.root, "usr/local/bin/rroctl")); !strings.Contains(got, "build 2") {
		t.Errorf("not upgraded: %q", got)
	}

	// Someone replaces rro-runc: uninstall keeps it, removes the rest.
	writeT(t, filepath.Join(n.root, "usr/local/bin/rro-runc"), "someone else's\n")
	stdout, _, code = n.uninstall(t)
	if code != 0 || !strings.Contains(stdout, "kept /usr/local/bin/rro-runc (replaced since install") || !strings.Contains(stdout, "removed /usr/local/bin/rroctl\n") {
		t.Fatalf("uninstall: exit %d:\n%s", code, stdout)
	}
	if readT(t, filepath.Join(n.root, "usr/local/bin/rro-runc")) != "someone else's\n" {
		t.Error("uninstall removed a binary it did not install")
	}

	// A foreign binary in the way: install refuses and changes nothing.
	before := snapshot(t, n.root, true)
	_, stderr, code = n.install(t, "--engine", "containerd")
	if code == 0 || !strings.Contains(stderr, "/usr/local/bin/rro-runc already exists and is not the build rroctl install put there") {
		t.Fatalf("install over a foreign binary: exit %d: %s", code, stderr)
	}
	sameTree(t, "refused install", before, snapshot(t, n.root, true))

	// The same build already there (say, copied by hand) is adopted:
	// installed over nothing, and uninstall leaves it.
	n2 := newNode(t)
	writeT(t, filepath.Join(n2.root, "usr/local/bin/rro-runc"), readT(t, filepath.Join(n2.src, "rro-runc")))
	stdout, _, _ = n2.install(t, "--engine", "containerd")
	if !strings.Contains(stdout, "unchanged /usr/local/bin/rro-runc (same build, not installed by rroctl: uninstall keeps it)") {
		t.Errorf("adopting install:\n%s", stdout)
	}
	stdout, _, _ = n2.uninstall(t)
	if !strings.Contains(stdout, "kept /usr/local/bin/rro-runc (not installed by rroctl install)") {
		t.Errorf("uninstall of an adopted binary:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(n2.root, "usr/local/bin/rro-runc")); err != nil {
		t.Error("uninstall removed a binary it found there")
	}
}

func TestInstallFailuresChangeNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, n *node)
		args  []string
		code  int
		want  string
	}{
		{"missing host root", func(t *testing.T, n *node) { n.root = filepath.Join(n.root, "nope") },
			[]string{"--engine", "containerd"}, exitInput, "--host-root"},
		{"unparsable engine config", func(t *testing.T, n *node) {
			writeT(t, filepath.Join(n.root, "etc/containerd/config.toml"), "version = 3\n[plugins\n")
		}, []string{"--engine", "containerd"}, exitInput, "cannot parse"},
		{"no engine", nil, nil, exitInput, "--engine is required"},
		{"unknown engine", nil, []string{"--engine", "cri-o"}, exitInput, "unknown engine"},
		{"bad policy", nil, []string{"--engine", "containerd", "--policy", "maybe"}, exitInput, "--policy"},
		{"bad restart", nil, []string{"--engine", "containerd", "--restart", "signal"}, exitInput, "--restart"},
		{"relative prefix", nil, []string{"--engine", "containerd", "--prefix", "usr"}, exitInput, "--prefix"},
		{"missing binaries", func(t *testing.T, n *node) { os.Remove(filepath.Join(n.src, "rro-runc")) },
			[]string{"--engine", "containerd"}, exitFinding, "rro-runc"},
		{"engine config is a directory", func(t *testing.T, n *node) {
			p := filepath.Join(n.root, "etc/containerd/config.toml")
			os.Remove(p)
			os.Mkdir(p, 0o755)
		}, []string{"--engine", "containerd"}, exitFinding, "not a regular file"},
		{"state dir is a file", func(t *testing.T, n *node) { writeT(t, filepath.Join(n.root, "var/lib/rro-runc"), "x") },
			[]string{"--engine", "containerd"}, exitFinding, "not a directory"},
		{"a write fails half way", func(t *testing.T, n *node) {
			testFault = func(p string) error {
				if p == stateFile {
					return errors.New("injected failure")
				}
				return nil
			}
			t.Cleanup(func() { testFault = nil })
		}, []string{"--engine", "containerd"}, exitFinding, "injected failure (every step undone: nothing changed)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t)
			if tc.setup != nil {
				tc.setup(t, n)
			}
			var before map[string]string
			if _, err := os.Stat(n.root); err == nil {
				before = snapshot(t, n.root, true)
			}
			stdout, stderr, code := n.install(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr %q lacks %q (stdout %q)", code, tc.code, stderr, tc.want, stdout)
			}
			if before != nil {
				sameTree(t, tc.name, before, snapshot(t, n.root, true))
			}
		})
	}
}

// TestInstallReadOnlyHost mounts the node root read-only: install must
// fail before writing anything, with a message naming the place.
func TestInstallReadOnlyHost(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (mount)")
		}
		t.Skip("needs root (mount)")
	}
	n := newNode(t)
	ro := t.TempDir()
	if err := syscall.Mount(n.root, ro, "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(ro, syscall.MNT_DETACH) })
	if err := syscall.Mount("", ro, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, n.root, true)
	_, stderr, code := runApp(t, "install", "--host-root", ro, "--source", n.src, "--engine", "containerd")
	if code != exitFinding || !strings.Contains(stderr, "read-only file system") || !strings.Contains(stderr, "nothing changed") {
		t.Errorf("install on a read-only host: exit %d: %s", code, stderr)
	}
	sameTree(t, "read-only host", before, snapshot(t, n.root, true))
}

func TestUninstallChangedConfig(t *testing.T) {
	n := newNode(t)
	if _, stderr, code := n.install(t, "--engine", "containerd"); code != 0 {
		t.Fatal(stderr)
	}
	p := filepath.Join(n.root, "etc/containerd/config.toml")
	installed := readT(t, p)

	// The handler was changed by hand: not install's any more, so it
	// stays, and so does everything else.
	writeT(t, p, strings.Replace(installed, `BinaryName = "/usr/local/bin/rro-runc"`, `BinaryName = "/opt/other/rro-runc"`, 1))
	before := snapshot(t, n.root, true)
	_, stderr, code := n.uninstall(t, "--engine", "containerd")
	if code != exitFinding || !strings.Contains(stderr, `runtime "rro" there is no longer what rroctl install wrote`) || !strings.Contains(stderr, "nothing changed") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	sameTree(t, "refused uninstall", before, snapshot(t, n.root, true))

	// The admin added a setting after install: the old bytes would lose
	// it, so only the handler goes.
	edited := installed + "\n[debug]\n  level = \"info\" # added after install\n"
	writeT(t, p, edited)
	stdout, stderr, code := n.uninstall(t, "--engine", "containerd")
	if code != 0 || !strings.Contains(stdout, `removed runtime "rro" from /etc/containerd/config.toml (changed since install`) {
		t.Fatalf("exit %d:\n%s%s", code, stdout, stderr)
	}
	want := containerdConf + "\n[debug]\n  level = \"info\" # added after install\n"
	if got := readT(t, p); got != want {
		t.Errorf("after uninstall:\n%s\nwant the original with the admin's addition:\n%s", got, want)
	}
}

func TestInstallDockerAndPodman(t *testing.T) {
	n := newNode(t)
	stdout, stderr, code := n.install(t, "--engine", "docker")
	if code != 0 || !strings.Contains(stdout, "to apply, run on the host: systemctl restart docker\n") {
		t.Fatalf("docker: exit %d:\n%s%s", code, stdout, stderr)
	}
	var daemon struct {
		Runtimes map[string]struct{ Path string } `json:"runtimes"`
	}
	if err := json.Unmarshal([]byte(readT(t, filepath.Join(n.root, "etc/docker/daemon.json"))), &daemon); err != nil || daemon.Runtimes["rro"].Path != "/usr/local/bin/rro-runc" {
		t.Errorf("daemon.json: %+v %v", daemon, err)
	}
	stdout, stderr, code = n.install(t, "--engine", "podman", "--config", "/etc/containers/containers.conf")
	if code != 0 || !strings.Contains(stdout, "podman reads its configuration on every command: nothing to restart") ||
		!strings.Contains(stdout, "unchanged /usr/local/bin/rro-runc (same build)") {
		t.Fatalf("podman: exit %d:\n%s%s", code, stdout, stderr)
	}
	if conf := readT(t, filepath.Join(n.root, "etc/containers/containers.conf")); !strings.Contains(conf, `rro = ["/usr/local/bin/rro-runc"]`) {
		t.Errorf("containers.conf:\n%s", conf)
	}
	// Undo docker only: podman still uses the binaries.
	stdout, _, code = n.uninstall(t, "--engine", "docker")
	if code != 0 || !strings.Contains(stdout, "removed /etc/docker/daemon.json (install created it)") || !strings.Contains(stdout, "kept the binaries: 1 other engine") {
		t.Errorf("uninstall docker:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(n.root, "etc/docker")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("etc/docker, created by install, is still there: %v", err)
	}
	stdout, _, code = n.uninstall(t)
	if code != 0 || !strings.Contains(stdout, "removed /etc/containers/containers.conf") || !strings.Contains(stdout, "removed /usr/local/bin/rro-runc") {
		t.Errorf("uninstall the rest:\n%s", stdout)
	}
}

// TestInstallRestartSystemd runs --restart systemd against a fake host
// whose nsenter records its arguments: the real chroot and exec, with
// PID 1 faked to be the host's init; then with PID 1 not the host's.
func TestInstallRestartSystemd(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (chroot)")
		}
		t.Skip("needs root (chroot)")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox-static not installed")
	}
	n := newNode(t)
	writeT(t, filepath.Join(n.root, "bin/busybox"), readT(t, busybox))
	writeT(t, filepath.Join(n.root, "usr/bin/nsenter"), "#!/bin/busybox sh\necho \"$@\" >> /nsenter.log\n")

	pid1Root = "/"
	stdout, stderr, code := n.install(t, "--engine", "containerd", "--restart", "systemd")
	if code != exitFinding || !strings.Contains(stderr, "PID 1's root is not "+n.root) || !strings.Contains(stderr, "hostPID") {
		t.Errorf("restart without hostPID: exit %d:\n%s%s", code, stdout, stderr)
	}
	n.uninstall(t)

	pid1Root = n.root
	t.Cleanup(func() { pid1Root = "/proc/1/root" })
	stdout, stderr, code = n.install(t, "--engine", "containerd", "--restart", "systemd")
	if code != 0 || !strings.Contains(stdout, "restarted containerd (systemctl restart containerd)") {
		t.Fatalf("install --restart systemd: exit %d:\n%s%s", code, stdout, stderr)
	}
	want := "--target 1 --mount --uts --ipc --net --pid -- systemctl restart containerd\n"
	if got := readT(t, filepath.Join(n.root, "nsenter.log")); got != want {
		t.Errorf("nsenter ran with %q, want %q", got, want)
	}
	// No change, no restart.
	if stdout, _, _ := n.install(t, "--engine", "containerd", "--restart", "systemd"); strings.Contains(stdout, "restarted") {
		t.Errorf("restarted although nothing changed:\n%s", stdout)
	}
	if _, stderr, code := n.uninstall(t, "--restart", "systemd"); code != 0 {
		t.Fatal(stderr)
	}
	if got := readT(t, filepath.Join(n.root, "nsenter.log")); got != want+want {
		t.Errorf("uninstall did not restart containerd: %q", got)
	}
}

// TestInstallKeepsAPreexistingHandler: a handler configured before
// install (rroctl configure) is not install's, so uninstall leaves it.
func TestInstallKeepsAPreexistingHandler(t *testing.T) {
	n := newNode(t)
	p := filepath.Join(n.root, "etc/containerd/config.toml")
	if _, stderr, code := runApp(t, "configure", "containerd", "--config", p, "--binary", "/usr/local/bin/rro-runc"); code != 0 {
		t.Fatal(stderr)
	}
	configured := readT(t, p)
	stdout, stderr, code := n.install(t, "--engine", "containerd")
	if code != 0 || !strings.Contains(stdout, `unchanged /etc/containerd/config.toml (containerd runtime "rro" already configured)`) || strings.Contains(stdout, "systemctl") {
		t.Fatalf("install: exit %d:\n%s%s", code, stdout, stderr)
	}
	stdout, _, code = n.uninstall(t)
	if code != 0 || !strings.Contains(stdout, `unchanged /etc/containerd/config.toml (runtime "rro" was configured before install: kept)`) {
		t.Errorf("uninstall: exit %d:\n%s", code, stdout)
	}
	if readT(t, p) != configured {
		t.Error("uninstall changed a handler install did not add")
	}
}

// TestInstallResolvesSymlinksInHostRoot: absolute symlinks on the node
// (/usr/local -> /opt/local, a config.toml linked from elsewhere) are
// followed as the host follows them, inside the host root, never into
// the installer's own filesystem; the link itself stays a link.
func TestInstallResolvesSymlinksInHostRoot(t *testing.T) {
	n := newNode(t)
	if _, err := os.Stat("/opt/local/bin/rro-runc"); err == nil {
		t.Skip("/opt/local/bin/rro-runc exists on this machine")
	}
	local := filepath.Join(n.root, "usr/local")
	os.Rename(local, filepath.Join(n.root, "opt-local"))
	os.MkdirAll(filepath.Join(n.root, "opt"), 0o755)
	os.Rename(filepath.Join(n.root, "opt-local"), filepath.Join(n.root, "opt/local"))
	if err := os.Symlink("/opt/local", local); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(n.root, "etc/containerd/config.toml")
	writeT(t, filepath.Join(n.root, "etc/k8s/containerd.toml"), containerdConf)
	os.Remove(cfg)
	if err := os.Symlink("/etc/k8s/containerd.toml", cfg); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, n.root, false)

	if _, stderr, code := n.install(t, "--engine", "containerd"); code != 0 {
		t.Fatalf("install: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(n.root, "opt/local/bin/rro-runc")); err != nil {
		t.Errorf("rro-runc not installed through the node's /usr/local link: %v", err)
	}
	if _, err := os.Stat("/opt/local/bin/rro-runc"); err == nil {
		t.Errorf("install followed the node's link into the installer's own /opt/local")
	}
	if fi, err := os.Lstat(cfg); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the config link was replaced: %v %v", fi.Mode(), err)
	}
	if !strings.Contains(readT(t, filepath.Join(n.root, "etc/k8s/containerd.toml")), "runtimes.rro]") {
		t.Errorf("the linked config was not edited")
	}
	if _, stderr, code := n.uninstall(t, "--purge"); code != 0 {
		t.Fatalf("uninstall: %s", stderr)
	}
	sameTree(t, "install and uninstall through links", before, snapshot(t, n.root, false))
}
