package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rro-runc/rro-runc/internal/configure"
)

// fallbackBinary is where `make install` puts rro-runc.
const fallbackBinary = "/usr/local/bin/rro-runc"

// How each engine picks up a changed configuration.
var applyHint = map[configure.Target]string{
	configure.Containerd: "restart containerd to apply",
	configure.Docker:     "reload dockerd to apply (SIGHUP reloads runtimes; or restart it)",
	configure.Podman:     "podman reads it on its next command",
}

func configureCommand() *cli.Command {
	var subs []*cli.Command
	for _, t := range configure.Targets {
		subs = append(subs, configureTargetCommand(t))
	}
	return &cli.Command{
		Name:      "configure",
		Usage:     "install rro-runc as a runtime of containerd, docker or podman",
		ArgsUsage: "containerd|docker|podman",
		Description: "Edits the engine's configuration file in place: only the settings for rro-runc\n" +
			"change; other settings and comments stay. A second run changes nothing. The\n" +
			"original is kept as FILE.bak-TIMESTAMP. A file that does not parse is refused\n" +
			"and left untouched (exit status 2). --remove takes the runtime out again: on a\n" +
			"file nothing else changed since, the bytes come back as they were.",
		Subcommands: subs,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				_ = cli.ShowSubcommandHelp(c)
				return inputError("configure: name the engine: containerd, docker or podman")
			}
			_, err := configure.ParseTarget(c.Args().First())
			return inputError("configure: %v", err)
		},
	}
}

func configureTargetCommand(t configure.Target) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "config", Value: t.DefaultPath(), TakesFile: true, Usage: "the " + string(t) + " configuration `FILE` to edit (created when missing)"},
		&cli.StringFlag{Name: "runtime-name", Value: configure.DefaultRuntimeName, Usage: "the runtime's `NAME` in " + string(t)},
		&cli.StringFlag{Name: "binary", TakesFile: true, Usage: "the rro-runc `PATH` " + string(t) + " runs (default: the rro-runc beside rroctl, else " + fallbackBinary + ")"},
		&cli.BoolFlag{Name: "set-as-default", Usage: "make it " + string(t) + "'s default runtime"},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the change as a diff and write nothing"},
		&cli.BoolFlag{Name: "remove", Usage: "take out the runtime configure installed with these flags (and a default naming it); refuse one rroctl did not install"},
	}
	usage := map[configure.Target]string{
		configure.Containerd: "add a CRI runtime handler (runtime_type io.containerd.runc.v2, BinaryName, pod_annotations org.rro-runc.policy and org.rro-runc.exclude)",
		configure.Docker:     "add a runtime to daemon.json",
		configure.Podman:     "add an OCI runtime to containers.conf and list it in runtime_supports_json",
	}[t]
	switch t {
	case configure.Containerd:
		flags = append(flags, &cli.StringFlag{Name: "runc-root", TakesFile: true, Usage: "the runtime's state `DIR` (options Root; default: containerd's)"})
	case configure.Docker:
		flags = append(flags, &cli.StringFlag{Name: "policy", Usage: "pass --rro-policy=`POLICY` (Enabled, IfPossible or Disabled) in runtimeArgs"})
	}
	return &cli.Command{
		Name:   string(t),
		Usage:  usage,
		Flags:  flags,
		Action: func(c *cli.Context) error { return runConfigure(c, t) },
	}
}

func runConfigure(c *cli.Context, t configure.Target) error {
	if c.NArg() > 0 {
		return inputError("configure %s: unexpected argument %q", t, c.Args().First())
	}
	path := c.String("config")
	if path == "" {
		return inputError("configure %s: --config is empty", t)
	}
	o := configure.Options{
		RuntimeName:  c.String("runtime-name"),
		Binary:       c.String("binary"),
		SetAsDefault: c.Bool("set-as-default"),
		Policy:       c.String("policy"),
		RuncRoot:     c.String("runc-root"),
	}
	if o.Binary == "" {
		o.Binary = defaultBinary()
	} else if strings.Contains(o.Binary, "/") {
		// The engine runs it from its own working directory.
		abs, err := filepath.Abs(o.Binary)
		if err != nil {
			return cli.Exit(fmt.Sprintf("configure %s: %v", t, err), exitFinding)
		}
		o.Binary = abs
	}
	if o.RuncRoot != "" {
		abs, err := filepath.Abs(o.RuncRoot)
		if err != nil {
			return cli.Exit(fmt.Sprintf("configure %s: %v", t, err), exitFinding)
		}
		o.RuncRoot = abs
	}
	dryRun, remove := c.Bool("dry-run"), c.Bool("remove")
	apply := configure.Apply
	if remove {
		apply = configure.ApplyRemove
	}
	res, err := apply(t, path, o, dryRun)
	switch {
	case errors.Is(err, configure.ErrParse), errors.Is(err, configure.ErrUnsupported), errors.Is(err, configure.ErrNotOurs):
		return inputError("configure %s: %v (file left untouched)", t, err)
	case errors.Is(err, configure.ErrInvalidOption):
		return inputError("configure %s: %v", t, err)
	case err != nil:
		return cli.Exit(fmt.Sprintf("configure %s: %v", t, err), exitFinding)
	}
	what := fmt.Sprintf("runtime %q", o.RuntimeName)
	// What happened, in the words of configure or of --remove.
	unchanged, would, done := "already configured", "would configure", "configured"
	if remove {
		unchanged, would, done = "is not configured", "would remove", "removed"
	} else {
		warnBinary(c, t, o)
		for _, w := range res.Warnings {
			fmt.Fprintf(c.App.ErrWriter, "rroctl: warning: %s\n", w)
		}
		if o.SetAsDefault {
			what += " (default)"
		}
	}
	out := c.App.Writer
	switch {
	case !res.Changed:
		fmt.Fprintf(out, "%s: no change: %s %s %s\n", res.Path, t, what, unchanged)
	case dryRun:
		fmt.Fprint(out, res.Diff())
		fmt.Fprintf(out, "%s: %s %s %s (dry run: nothing written)\n", res.Path, would, t, what)
	default:
		note := "created"
		if res.Backup != "" {
			note = "backup " + res.Backup
		}
		fmt.Fprintf(out, "%s: %s %s %s (%s)\n", res.Path, done, t, what, note)
		fmt.Fprintf(c.App.ErrWriter, "rroctl: %s\n", applyHint[t])
	}
	return nil
}

// warnBinary warns, without failing, about a binary the engine will not
// be able to run: the configuration may well be written before the
// install.
func warnBinary(c *cli.Context, t configure.Target, o configure.Options) {
	if !strings.Contains(o.Binary, "/") {
		fmt.Fprintf(c.App.ErrWriter, "rroctl: warning: --binary %q is not a path: %s will look it up in its own PATH\n", o.Binary, t)
		return
	}
	if fi, err := os.Stat(o.Binary); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		fmt.Fprintf(c.App.ErrWriter, "rroctl: warning: %s is not an executable file (yet): %s cannot run containers with runtime %q until it is\n", o.Binary, t, o.RuntimeName)
	}
}

// defaultBinary is the rro-runc installed with this rroctl, so that a
// release unpacked anywhere configures its own wrapper.
func defaultBinary() string {
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			p := filepath.Join(filepath.Dir(exe), "rro-runc")
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p
			}
		}
	}
	return fallbackBinary
}
