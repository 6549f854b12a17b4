package main

// rroctl install: put rro-runc on a node (binaries, its configuration, the
// engine's runtime handler), the way a DaemonSet or a provisioning script
// does it, and remember what it did so that rroctl uninstall can undo
// exactly that and nothing else.
//
// Guarantees:
//   - Host paths: everything is written under --host-root, but every path
//     written INTO a file (the engine's BinaryName) is the host's view
//     (/usr/local/bin/rro-runc), never the installer's (/host/usr/...).
//     Symlinks on the node are followed as the host would follow them,
//     inside the host root, never into the installer's own filesystem.
//   - Checked first, rolled back on failure: the engine configuration is
//     parsed and edited in memory, the source binaries read, conflicts
//     found and every directory to be written tested for writability
//     before anything changes; a failure after that undoes the steps
//     already taken, so the host is left as it was.
//   - Atomic files: binaries and configurations are replaced by rename
//     (internal/specfile), so the engine never runs a half-written binary.
//   - Idempotent: a file that already has the content to install is not
//     touched; a second install reports "no change" and writes nothing.
//   - Never clobbers: a binary at the target that rroctl install did not
//     put there and that differs is refused; an existing config.toml is
//     kept.
//   - Never signals an engine: containerd has no configuration reload
//     (SIGHUP stops it). --restart systemd restarts the unit; the default
//     prints the command to run.

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/rro-runc/rro-runc/internal/configure"
	"github.com/rro-runc/rro-runc/internal/specfile"
	"github.com/rro-runc/rro-runc/rewrite"
)

// defaultConfig is the config.toml install writes when there is none; the
// Debian package ships the same file (make deb copies it from here).
//
//go:embed default-config.toml
var defaultConfig string

const (
	// stateFile records what install did, under the host root.
	stateFile = "/var/lib/rro-runc/install.json"
	// rroConfigFile is rro-runc's configuration (policy.DefaultFile).
	rroConfigFile = "/etc/rro-runc/config.toml"
	defaultPrefix = "/usr/local"
)

// installedBinaries are copied from the directory of the running rroctl;
// optional ones only when they are there (rro-nri is built separately).
var installedBinaries = []struct {
	name     string
	optional bool
}{{"rro-runc", false}, {"rroctl", false}, {"rro-nri", true}}

// systemdUnits are the units --restart systemd restarts; Podman has no
// daemon: it reads containers.conf on every command.
var systemdUnits = map[configure.Target]string{
	configure.Containerd: "containerd",
	configure.Docker:     "docker",
}

// installState is the record at stateFile. Paths are the host's view.
type installState struct {
	// Format is the record's version.
	Format    int             `json:"format"`
	Installer string          `json:"installer"` // rroctl version of the last install
	Prefix    string          `json:"prefix"`
	Binaries  []*binaryRecord `json:"binaries"`
	// RroConfig is set when install wrote config.toml (it was absent).
	RroConfig *fileRecord `json:"rroConfig,omitempty"`
	// Engines maps an engine to the configuration install edited.
	Engines map[configure.Target]*engineRecord `json:"engines"`
	// CreatedDirs are directories install created; uninstall removes the
	// ones that are empty again.
	CreatedDirs []string `json:"createdDirs,omitempty"`
}

type fileRecord struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

type binaryRecord struct {
	fileRecord
	// Adopted: the same build was already there, put by someone else;
	// uninstall leaves it.
	Adopted bool `json:"adopted,omitempty"`
}

type engineRecord struct {
	Path        string `json:"path"`
	RuntimeName string `json:"runtimeName"`
	// Added is false when the handler was already configured: uninstall
	// then leaves the file alone.
	Added bool `json:"added"`
	// Created: the file did not exist before.
	Created bool `json:"created,omitempty"`
	// Before and After are the file's bytes before the first install and
	// after the last one (JSON base64: lossless). Restorable is false once
	// someone else changed the file between installs: Before then lacks
	// their change and must not be written back.
	Before     []byte `json:"before"`
	After      []byte `json:"after"`
	Restorable bool   `json:"restorable"`
}

const stateFormat = 1

func installFlags(install bool) []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "host-root", Value: "/", TakesFile: true, Usage: "the node's root `DIR` as this process sees it (a DaemonSet mounts it at /host)"},
		&cli.StringFlag{Name: "engine", Usage: "the container `ENGINE`: containerd, docker or podman"},
		&cli.StringFlag{Name: "config", TakesFile: true, Usage: "the engine's configuration `FILE`, as the host sees it (default: the engine's usual place)"},
		&cli.StringFlag{Name: "restart", Value: "none", Usage: "`HOW` to apply the engine change: none (print the command) or systemd (restart the unit on the host)"},
		&cli.BoolFlag{Name: "wait", Usage: "after success, stay running until terminated (a DaemonSet's container)"},
	}
	if install {
		flags = append(flags,
			&cli.StringFlag{Name: "prefix", Value: defaultPrefix, Usage: "install binaries into `PREFIX`/bin (as the host sees it)"},
			&cli.StringFlag{Name: "policy", Usage: "the `POLICY` written into a new config.toml: Enabled, IfPossible or Disabled"},
			&cli.StringFlag{Name: "runtime-name", Value: configure.DefaultRuntimeName, Usage: "the runtime's `NAME` in the engine (the RuntimeClass handler)"},
			&cli.BoolFlag{Name: "set-as-default", Usage: "make rro-runc the engine's default runtime"},
			&cli.StringFlag{Name: "source", TakesFile: true, Usage: "copy the binaries from `DIR` (default: the directory of this rroctl)"},
		)
	} else {
		flags = append(flags, &cli.BoolFlag{Name: "purge", Usage: "also remove /etc/rro-runc/config.toml when install wrote it and it was changed since"})
	}
	return flags
}

func installCommand() *cli.Command {
	return &cli.Command{
		Name:  "install",
		Usage: "install rro-runc on a node: binaries, config.toml, the engine's runtime handler",
		Description: "Copies rro-runc and rroctl (and rro-nri when present) from this rroctl's directory into\n" +
			"HOST-ROOT/PREFIX/bin, writes HOST-ROOT/etc/rro-runc/config.toml when absent and adds\n" +
			"the runtime to the engine's configuration (the same edit as rroctl configure), with\n" +
			"the paths the host sees. What it did is recorded in HOST-ROOT" + stateFile + " for\n" +
			"rroctl uninstall. A second run changes nothing. Everything is checked before\n" +
			"anything is written; a failure leaves the host as it was.",
		Flags:  installFlags(true),
		Action: runInstall,
	}
}

// hostOptions are the flags install and uninstall share.
type hostOptions struct {
	root    string // absolute, cleaned
	engine  configure.Target
	config  string // host view
	restart string
	wait    bool
}

func parseHostOptions(c *cli.Context, cmd string, needEngine bool) (*hostOptions, error) {
	if c.NArg() > 0 {
		return nil, inputError("%s: unexpected argument %q", cmd, c.Args().First())
	}
	h := &hostOptions{restart: c.String("restart"), wait: c.Bool("wait")}
	root := c.String("host-root")
	if root == "" {
		return nil, inputError("%s: --host-root is empty", cmd)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, inputError("%s: --host-root %q: %v", cmd, root, err)
	}
	switch fi, err := os.Stat(abs); {
	case err != nil:
		return nil, inputError("%s: --host-root %s: %v", cmd, root, err)
	case !fi.IsDir():
		return nil, inputError("%s: --host-root %s is not a directory", cmd, root)
	}
	h.root = abs
	if e := c.String("engine"); e != "" || needEngine {
		if e == "" {
			return nil, inputError("%s: --engine is required: containerd, docker or podman", cmd)
		}
		if h.engine, err = configure.ParseTarget(e); err != nil {
			return nil, inputError("%s: --engine: %v", cmd, err)
		}
	}
	h.config = c.String("config")
	if h.config != "" {
		if h.engine == "" {
			return nil, inputError("%s: --config needs --engine", cmd)
		}
		if !filepath.IsAbs(h.config) {
			return nil, inputError("%s: --config %q: want an absolute path as the host sees it", cmd, h.config)
		}
		h.config = filepath.Clean(h.config)
	} else if h.engine != "" {
		h.config = h.engine.DefaultPath()
	}
	if h.restart != "none" && h.restart != "systemd" {
		return nil, inputError("%s: --restart %q: want none or systemd", cmd, h.restart)
	}
	return h, nil
}

// on is the installer's view of host path p.
func (h *hostOptions) on(p string) string { return onHost(h.root, p) }

// onHost is where host path p is under root. Symlinks on the way are
// resolved as the host would resolve them, inside root (resolveIn, as
// runc resolves a mount destination): an absolute link such as
// /usr/local -> /var/usrlocal must land in the host's /var, never in the
// installer's own.
func onHost(root, p string) string {
	if root == "/" {
		return filepath.Clean(p)
	}
	return filepath.Join(root, resolveIn(root, p))
}

// plannedBinary is one binary to install.
type plannedBinary struct {
	name, host string // host view
	data       []byte
	sum        string
	action     string // "install", "upgrade", "keep", "adopt"
}

func runInstall(c *cli.Context) error {
	h, err := parseHostOptions(c, "install", true)
	if err != nil {
		return err
	}
	prefix := c.String("prefix")
	if !filepath.IsAbs(prefix) {
		return inputError("install: --prefix %q: want an absolute path as the host sees it", prefix)
	}
	prefix = filepath.Clean(prefix)
	policyText := ""
	if p := c.String("policy"); p != "" {
		pol, err := rewrite.ParsePolicy(p)
		if err != nil {
			return inputError("install: --policy: %v", err)
		}
		policyText = pol.String()
	}
	source := c.String("source")
	if source == "" {
		if source, err = selfDir(); err != nil {
			return cli.Exit(fmt.Sprintf("install: cannot find the binaries to install: %v (use --source DIR)", err), exitFinding)
		}
	}
	out := c.App.Writer

	st, err := loadState(h)
	if err != nil {
		return cli.Exit("install: "+err.Error(), exitFinding)
	}
	if st == nil {
		st = &installState{Engines: map[configure.Target]*engineRecord{}}
	} else if st.Prefix != prefix {
		return inputError("install: already installed with --prefix %s (see %s); run rroctl uninstall first to change it", st.Prefix, stateFile)
	}
	st.Format, st.Installer, st.Prefix = stateFormat, version, prefix
	binDir := filepath.Join(prefix, "bin")

	// 1. Plan every step, reading only.
	var bins []*plannedBinary
	for _, b := range installedBinaries {
		data, err := os.ReadFile(filepath.Join(source, b.name))
		if err != nil {
			if b.optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return cli.Exit(fmt.Sprintf("install: reading the binary to install: %v", err), exitFinding)
		}
		p := &plannedBinary{name: b.name, host: filepath.Join(binDir, b.name), data: data, sum: sha256Hex(data)}
		rec := st.binary(p.host)
		cur, err := readRegular(h.on(p.host))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			p.action = "install"
		case err != nil:
			return cli.Exit(fmt.Sprintf("install: %v", err), exitFinding)
		case sha256Hex(cur) == p.sum && rec != nil:
			p.action = "keep"
		case sha256Hex(cur) == p.sum:
			p.action = "adopt"
		case rec != nil && !rec.Adopted && sha256Hex(cur) == rec.SHA256:
			p.action = "upgrade"
		default:
			return cli.Exit(fmt.Sprintf("install: %s already exists and is not the build rroctl install put there; "+
				"it was left untouched: remove it (or install with another --prefix) and run again", p.host), exitFinding)
		}
		bins = append(bins, p)
	}

	var rroConfig []byte
	switch _, err := os.Lstat(h.on(rroConfigFile)); {
	case errors.Is(err, fs.ErrNotExist):
		rroConfig = []byte(defaultConfig)
		if policyText != "" {
			rroConfig = policyLine.ReplaceAll(rroConfig, []byte(fmt.Sprintf("policy = %q", policyText)))
		}
	case err != nil:
		return cli.Exit(fmt.Sprintf("install: %v", err), exitFinding)
	}

	o := configure.Options{
		RuntimeName:  c.String("runtime-name"),
		Binary:       filepath.Join(binDir, "rro-runc"),
		SetAsDefault: c.Bool("set-as-default"),
	}
	rec := st.Engines[h.engine]
	if rec != nil && rec.Path != h.config {
		return inputError("install: %s was configured in %s before (see %s); run rroctl uninstall --engine %s first to change it", h.engine, rec.Path, stateFile, h.engine)
	}
	if rec != nil && rec.RuntimeName != o.RuntimeName {
		return inputError("install: %s has runtime %q from an earlier install; run rroctl uninstall --engine %s first to rename it", h.engine, rec.RuntimeName, h.engine)
	}
	cfgCur, err := readRegular(h.on(h.config))
	cfgExists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return cli.Exit(fmt.Sprintf("install: %s configuration: %v (nothing changed)", h.engine, err), exitFinding)
	}
	cfgNew, err := configure.Edit(h.engine, h.config, cfgCur, o)
	switch {
	case errors.Is(err, configure.ErrParse), errors.Is(err, configure.ErrUnsupported), errors.Is(err, configure.ErrInvalidOption):
		return inputError("install: %v (nothing changed)", err)
	case err != nil:
		return cli.Exit(fmt.Sprintf("install: %v (nothing changed)", err), exitFinding)
	}
	cfgChanged := !cfgExists || !bytes.Equal(cfgNew, cfgCur)
	switch {
	case rec == nil:
		rec = &engineRecord{Path: h.config, RuntimeName: o.RuntimeName, Added: cfgChanged, Created: !cfgExists,
			Before: cfgCur, After: cfgNew, Restorable: true}
	case !bytes.Equal(cfgCur, rec.After):
		// Changed by someone else since the last install: writing Before
		// back would now lose their change.
		rec.Restorable = false
		rec.After = cfgNew
		rec.Added = rec.Added || cfgChanged
	default:
		rec.After = cfgNew
		rec.Added = rec.Added || cfgChanged
	}

	// 2. Check that every directory to be written can be written, so that
	// a read-only host fails here and not half way.
	dirs := []string{binDir, filepath.Dir(h.config), filepath.Dir(stateFile)}
	if rroConfig != nil {
		dirs = append(dirs, filepath.Dir(rroConfigFile))
	}
	if err := checkWritable(h, dirs...); err != nil {
		return cli.Exit(fmt.Sprintf("install: %v (nothing changed)", err), exitFinding)
	}

	// 3. Do it; undo everything on the first failure.
	x := &txn{root: h.root}
	changed := false
	err = x.run("install", func() error {
		for _, b := range bins {
			if b.action == "keep" || b.action == "adopt" {
				continue
			}
			if err := x.mkdirAll(binDir); err != nil {
				return err
			}
			if err := x.replace(b.host, b.data, 0o755); err != nil {
				return err
			}
			changed = true
		}
		if rroConfig != nil {
			if err := x.mkdirAll(filepath.Dir(rroConfigFile)); err != nil {
				return err
			}
			if err := x.replace(rroConfigFile, rroConfig, 0o644); err != nil {
				return err
			}
			st.RroConfig = &fileRecord{Path: rroConfigFile, SHA256: sha256Hex(rroConfig)}
			changed = true
		}
		if cfgChanged {
			if err := x.mkdirAll(filepath.Dir(h.config)); err != nil {
				return err
			}
			if err := x.replace(h.config, cfgNew, 0o644); err != nil {
				return err
			}
			changed = true
		}
		st.Engines[h.engine] = rec
		for _, b := range bins {
			if r := st.binary(b.host); r != nil {
				r.SHA256 = b.sum
			} else {
				st.Binaries = append(st.Binaries, &binaryRecord{fileRecord: fileRecord{Path: b.host, SHA256: b.sum}, Adopted: b.action == "adopt"})
			}
		}
		if err := x.mkdirAll(filepath.Dir(stateFile)); err != nil {
			return err
		}
		for _, d := range x.created {
			if !slices.Contains(st.CreatedDirs, d) {
				st.CreatedDirs = append(st.CreatedDirs, d)
			}
		}
		data, err := st.encode()
		if err != nil {
			return err
		}
		if old, err := os.ReadFile(h.on(stateFile)); err == nil && bytes.Equal(old, data) {
			return nil
		}
		return x.replace(stateFile, data, 0o644)
	})
	if err != nil {
		return err
	}

	// 4. Say what happened, in the host's terms.
	fmt.Fprintf(out, "host root %s\n", h.root)
	for _, b := range bins {
		switch b.action {
		case "install":
			fmt.Fprintf(out, "installed %s\n", b.host)
		case "upgrade":
			fmt.Fprintf(out, "upgraded %s\n", b.host)
		case "keep":
			fmt.Fprintf(out, "unchanged %s (same build)\n", b.host)
		case "adopt":
			fmt.Fprintf(out, "unchanged %s (same build, not installed by rroctl: uninstall keeps it)\n", b.host)
		}
	}
	if rroConfig != nil {
		fmt.Fprintf(out, "wrote %s (policy %s)\n", rroConfigFile, policyOf(rroConfig))
	} else {
		fmt.Fprintf(out, "unchanged %s (exists; kept as it is)\n", rroConfigFile)
		if policyText != "" {
			fmt.Fprintf(c.App.ErrWriter, "rroctl: warning: --policy %s not applied: %s exists and is kept; edit it there\n", policyText, rroConfigFile)
		}
	}
	if cfgChanged {
		fmt.Fprintf(out, "configured %s runtime %q in %s (BinaryName %s)\n", h.engine, o.RuntimeName, h.config, o.Binary)
	} else {
		fmt.Fprintf(out, "unchanged %s (%s runtime %q already configured)\n", h.config, h.engine, o.RuntimeName)
	}
	if !changed {
		fmt.Fprintln(out, "no change: already installed")
	}
	if err := applyEngine(c, h, cfgChanged); err != nil {
		return err
	}
	return waitIfAsked(c, h)
}

var policyLine = regexp.MustCompile(`(?m)^policy = .*$`)

func policyOf(cfg []byte) string {
	if m := policyLine.Find(cfg); m != nil {
		return strings.Trim(strings.TrimPrefix(string(m), "policy = "), `"`)
	}
	return "default"
}

// applyEngine restarts the engine or says how to, after its configuration
// changed. It never signals the daemon: containerd stops on SIGHUP.
func applyEngine(c *cli.Context, h *hostOptions, changed bool) error {
	out := c.App.Writer
	unit, hasUnit := systemdUnits[h.engine]
	switch {
	case !changed:
		return nil
	case !hasUnit:
		fmt.Fprintf(out, "%s reads its configuration on every command: nothing to restart\n", h.engine)
		return nil
	case h.restart == "none":
		fmt.Fprintf(out, "to apply, run on the host: systemctl restart %s\n", unit)
		return nil
	}
	argv, err := restartCommand(h.root, unit)
	if err != nil {
		return cli.Exit(fmt.Sprintf("restart %s: %v; the configuration is written: run on the host: systemctl restart %s", unit, err, unit), exitFinding)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = c.App.ErrWriter, c.App.ErrWriter
	if h.root != "/" {
		// The host's own nsenter and systemctl: the image has neither,
		// and the host's systemctl matches its systemd.
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: h.root}
		cmd.Dir = "/"
	}
	if err := cmd.Run(); err != nil {
		return cli.Exit(fmt.Sprintf("restart %s: %s: %v; the configuration is written: run on the host: systemctl restart %s", unit, strings.Join(argv, " "), err, unit), exitFinding)
	}
	fmt.Fprintf(out, "restarted %s (systemctl restart %s)\n", unit, unit)
	return nil
}

// pid1Root is PID 1's root directory; a variable so that tests can point
// it at their fake host.
var pid1Root = "/proc/1/root"

// restartCommand is how to run `systemctl restart UNIT` on the host. With
// the host root mounted elsewhere (a DaemonSet), it runs, chrooted into
// it, the host's nsenter into PID 1's namespaces: that PID 1 is the
// host's init only with hostPID, which is checked, because nsenter into
// the pod's own PID 1 would restart nothing or the wrong thing.
func restartCommand(root, unit string) ([]string, error) {
	if root == "/" {
		return []string{"systemctl", "restart", unit}, nil
	}
	var a, b syscall.Stat_t
	if err := syscall.Stat(pid1Root, &a); err != nil {
		return nil, fmt.Errorf("cannot see PID 1 (%v): a DaemonSet needs hostPID: true", err)
	}
	if err := syscall.Stat(root, &b); err != nil {
		return nil, err
	}
	if a.Dev != b.Dev || a.Ino != b.Ino {
		return nil, fmt.Errorf("PID 1's root is not %s: it is not the host's init (a DaemonSet needs hostPID: true and the host's / mounted at --host-root)", root)
	}
	for _, p := range []string{"/usr/bin/nsenter", "/bin/nsenter"} {
		if fi, err := os.Stat(filepath.Join(root, p)); err == nil && fi.Mode().IsRegular() {
			return []string{p, "--target", "1", "--mount", "--uts", "--ipc", "--net", "--pid", "--", "systemctl", "restart", unit}, nil
		}
	}
	return nil, fmt.Errorf("no nsenter on the host (util-linux)")
}

// waitIfAsked keeps a DaemonSet's container running after the work is
// done, so the pod shows Running rather than restarting the installer.
func waitIfAsked(c *cli.Context, h *hostOptions) error {
	if !h.wait {
		return nil
	}
	fmt.Fprintln(c.App.Writer, "done; waiting until terminated (--wait)")
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
	return nil
}

func selfDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", err
	}
	return filepath.Dir(exe), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// readRegular reads a regular file; a symlink or anything else is an
// error, since install replaces files by rename and would detach a link.
func readRegular(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): refusing to replace it", path, fi.Mode().Type())
	}
	return os.ReadFile(path)
}

func (s *installState) binary(host string) *binaryRecord {
	for _, b := range s.Binaries {
		if b.Path == host {
			return b
		}
	}
	return nil
}

func (s *installState) encode() ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	return append(data, '\n'), err
}

// loadState reads the install record; nil when there is none.
func loadState(h *hostOptions) (*installState, error) {
	b, err := os.ReadFile(h.on(stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st installState
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("%s: cannot parse the install record: %v (nothing changed)", h.on(stateFile), err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("%s: install record format %d, this rroctl reads %d (nothing changed)", h.on(stateFile), st.Format, stateFormat)
	}
	if st.Engines == nil {
		st.Engines = map[configure.Target]*engineRecord{}
	}
	return &st, nil
}

// checkWritable checks, before install or uninstall changes anything,
// that each host directory can be written; the first that cannot is the
// error.
func checkWritable(h *hostOptions, dirs ...string) error {
	for _, d := range dirs {
		if err := checkDirWritable(h, d); err != nil {
			return err
		}
	}
	return nil
}

// checkDirWritable creates and removes a file in host directory dir, or in
// its nearest existing ancestor when dir is still to be created.
func checkDirWritable(h *hostOptions, dir string) error {
	var d string
	for hd := dir; ; hd = filepath.Dir(hd) {
		d = h.on(hd)
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", d)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || hd == "/" {
			return err
		}
	}
	f, err := os.CreateTemp(d, ".rroctl-check-")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", d, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// testFault, set only by tests, fails a write to a host path on purpose
// to prove that rollback restores everything.
var testFault func(hostPath string) error

// txn applies file changes under a host root and can undo them.
type txn struct {
	root    string
	undos   []func() error
	commits []func()
	created []string // host view, in creation order
}

// mkdirAll creates host directory dir and its missing parents.
func (x *txn) mkdirAll(dir string) error {
	var missing []string
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(onHost(x.root, d)); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		on := onHost(x.root, d)
		if err := os.Mkdir(on, 0o755); err != nil {
			return err
		}
		x.created = append(x.created, d)
		x.undos = append(x.undos, func() error { return os.Remove(on) })
	}
	return nil
}

// replace writes data at host path p atomically, keeping the previous
// file (by a hard link) until commit so that rollback can put it back.
func (x *txn) replace(p string, data []byte, perm fs.FileMode) error {
	path := onHost(x.root, p)
	if testFault != nil {
		if err := testFault(p); err != nil {
			return err
		}
	}
	keep, err := x.keepOld(path)
	if err != nil {
		return err
	}
	if err := specfile.Replace(path, data, perm); err != nil {
		if keep != "" {
			os.Remove(keep)
		}
		return err
	}
	if keep == "" {
		x.undos = append(x.undos, func() error { return os.Remove(path) })
		return nil
	}
	x.undos = append(x.undos, func() error { return os.Rename(keep, path) })
	x.commits = append(x.commits, func() { os.Remove(keep) })
	return nil
}

// remove deletes host path p, recoverably until commit.
func (x *txn) remove(p string) error {
	path := onHost(x.root, p)
	keep, err := x.keepOld(path)
	if err != nil {
		return err
	}
	if keep == "" {
		return nil
	}
	if err := os.Remove(path); err != nil {
		os.Remove(keep)
		return err
	}
	x.undos = append(x.undos, func() error { return os.Rename(keep, path) })
	x.commits = append(x.commits, func() { os.Remove(keep) })
	return nil
}

// keepOld hard-links an existing file to a temporary name beside it; ""
// when there is no file.
func (x *txn) keepOld(path string) (string, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	for i := 0; i < 100; i++ {
		keep := fmt.Sprintf("%s/%skeep-%s-%d-%d", filepath.Dir(path), specfile.TempPrefix, filepath.Base(path), os.Getpid(), i)
		err := os.Link(path, keep)
		if err == nil {
			return keep, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("keeping %s for rollback: %w", path, err)
		}
	}
	return "", fmt.Errorf("keeping %s for rollback: too many leftovers", path)
}

// run does steps; on their first failure it undoes what they did and
// returns the error for cmd, else it commits.
func (x *txn) run(cmd string, steps func() error) error {
	if err := steps(); err != nil {
		if rerr := x.rollback(); rerr != nil {
			return cli.Exit(fmt.Sprintf("%s: %v; undoing the steps already taken also failed: %v", cmd, err, rerr), exitFinding)
		}
		return cli.Exit(fmt.Sprintf("%s: %v (every step undone: nothing changed)", cmd, err), exitFinding)
	}
	x.commit()
	return nil
}

// rollback undoes every step, newest first.
func (x *txn) rollback() error {
	var errs []error
	for i := len(x.undos) - 1; i >= 0; i-- {
		if err := x.undos[i](); err != nil {
			errs = append(errs, err)
		}
	}
	x.undos, x.commits, x.created = nil, nil, nil
	return errors.Join(errs...)
}

// commit drops what rollback would have needed.
func (x *txn) commit() {
	for _, f := range x.commits {
		f()
	}
	x.undos, x.commits = nil, nil
}

// removeEmptyDirs removes the host directories that are empty, deepest
// first; a directory with anything in it stays.
func removeEmptyDirs(root string, dirs []string) (removed []string) {
	sorted := slices.Clone(dirs)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, d := range sorted {
		if err := os.Remove(onHost(root, d)); err == nil {
			removed = append(removed, d)
		}
	}
	return removed
}
