package argv

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	// runc 1.1.5 parses its command line with urfave/cli v1.22.9 (Debian
	// 12's runc is built against that version; so is upstream's go.mod for
	// the 1.1 branch). Linked into this test only, never into rro-runc.
	"github.com/urfave/cli"
)

// vocabulary is what generated command lines are made of: runc's and
// crun's global and create/run/restore flags in every spelling, help
// requests, crun's argp forms, values that look like subcommands or
// flags, and positional words.
var vocabulary = []string{
	"--root", "-root", "--root=/r", "--log", "--log=/l", "-log", "--log-format", "--log-format=json",
	"--criu", "--rootless", "--rootless=auto", "--debug", "-debug", "--systemd-cgroup", "--debug=false",
	"create", "run", "restore", "state", "delete", "exec", "kill", "help", "h",
	"--bundle", "-bundle", "--bundle=/b1", "-b", "-b=/b2", "/b3", "--pid-file", "--pid-file=/p",
	"--console-socket", "--no-pivot", "--no-new-keyring", "--preserve-fds", "--preserve-fds=1", "7",
	"-d", "--detach", "--keep", "--image-path", "--empty-ns=net", "--tcp-established",
	"--", "-", "abc", "create", "/b4", "json", "text", "-x",
	"-h", "--help", "-help", "--help=false", "-h=1", "-v", "--version", "-V", "-?", "--usage",
	"-b/b5", "-db", "-dbX", "--bund", "--he", "-f", "-fc.json", "--config=c.json", "--cgroup-manager",
	"--work-path", "--ext-unix-sk", "--shell-job", "--file-locks", "--manage-cgroups-mode", "--no-subreaper",
	"--auto-dedup", "--lazy-pages", "--lsm-profile", "--lsm-mount-context", "-d=false", "--detach=1",
}

// runcResult is what runc 1.1 does with a command line, as urfave/cli
// v1.22.9 with runc's flag definitions runs it.
type runcResult struct {
	ran            string // the subcommand whose action ran, "" if none
	bundle, id     string
	log, logFormat string
}

func init() {
	// urfave/cli exits the process for "No help topic" and prints help
	// text; the oracle needs neither.
	cli.OsExiter = func(int) {}
	cli.ErrWriter = io.Discard
	cli.HelpPrinter = func(io.Writer, string, interface{}) {}
}

// runcOracle runs args through urfave/cli v1 with runc 1.1.5's global
// flags and its create, run and restore flags (`runc [CMD] --help` of
// runc 1.1.5; types from runc's sources: preserve-fds is an IntFlag,
// empty-ns a StringSliceFlag). Actions record what runc would run; like
// runc's checkArgs, they refuse anything but exactly one container ID.
func runcOracle(args []string) (res runcResult) {
	app := cli.NewApp()
	app.Name = "runc"
	app.Version = "1.1.5"
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	app.Flags = []cli.Flag{
		cli.BoolFlag{Name: "debug"},
		cli.StringFlag{Name: "log"},
		cli.StringFlag{Name: "log-format", Value: "text"},
		cli.StringFlag{Name: "root", Value: "/run/runc"},
		cli.StringFlag{Name: "criu", Value: "criu"},
		cli.BoolFlag{Name: "systemd-cgroup"},
		cli.StringFlag{Name: "rootless", Value: "auto"},
	}
	record := func(ctx *cli.Context) error {
		res.ran = ctx.Command.Name
		if ctx.GlobalIsSet("log") {
			res.log = ctx.GlobalString("log")
		}
		if ctx.GlobalIsSet("log-format") {
			res.logFormat = ctx.GlobalString("log-format")
		}
		switch ctx.Command.Name {
		case "create", "run", "restore":
			if ctx.NArg() != 1 {
				res.ran = ""
				return errors.New("requires exactly 1 argument")
			}
			res.bundle, res.id = ctx.String("bundle"), ctx.Args().First()
		}
		return nil
	}
	bundle := cli.StringFlag{Name: "bundle, b"}
	console := cli.StringFlag{Name: "console-socket"}
	pidFile := cli.StringFlag{Name: "pid-file"}
	noPivot := cli.BoolFlag{Name: "no-pivot"}
	noKeyring := cli.BoolFlag{Name: "no-new-keyring"}
	fds := cli.IntFlag{Name: "preserve-fds"}
	detach := cli.BoolFlag{Name: "detach, d"}
	noSubreaper := cli.BoolFlag{Name: "no-subreaper"}
	app.Commands = []cli.Command{
		{Name: "create", Action: record, Flags: []cli.Flag{bundle, console, pidFile, noPivot, noKeyring, fds}},
		{Name: "run", Action: record, Flags: []cli.Flag{bundle, console, detach, cli.BoolFlag{Name: "keep"},
			pidFile, noSubreaper, noPivot, noKeyring, fds}},
		{Name: "restore", Action: record, Flags: []cli.Flag{console,
			cli.StringFlag{Name: "image-path"}, cli.StringFlag{Name: "work-path"},
			cli.BoolFlag{Name: "tcp-established"}, cli.BoolFlag{Name: "ext-unix-sk"},
			cli.BoolFlag{Name: "shell-job"}, cli.BoolFlag{Name: "file-locks"},
			cli.StringFlag{Name: "manage-cgroups-mode"}, bundle, detach, pidFile, noSubreaper, noPivot,
			cli.StringSliceFlag{Name: "empty-ns"}, cli.BoolFlag{Name: "auto-dedup"},
			cli.BoolFlag{Name: "lazy-pages"}, cli.StringFlag{Name: "lsm-profile"},
			cli.StringFlag{Name: "lsm-mount-context"}}},
	}
	// The other commands matter only by name here.
	for _, name := range []string{"state", "delete", "exec", "kill"} {
		app.Commands = append(app.Commands, cli.Command{Name: name, SkipFlagParsing: true, Action: record})
	}
	_ = app.Run(append([]string{"runc"}, args...))
	return res
}

// TestRuncOracle pins the oracle itself to what the real runc 1.1.5 did
// on this project's machine with the same lines (exit status and whether
// it went on to look for config.json), so the fuzz test below cannot
// agree with a wrong oracle.
func TestRuncOracle(t *testing.T) {
	for line, ran := range map[string]bool{
		"create": false, "create a b": false, "create -h": false, "create a --help": false,
		"create --help=false a": true, "create --help=maybe a": false, "create -- -h": true,
		"create a -- -h": false, "create --pid-file -h a": true, "create --preserve-fds x a": false,
		"create --bogus a": false, "create -bX a": false, "--help create a": false,
		"--version create a": false, "help create": false, "create help": true,
		"--bogus create a": false, "create -h=1 a": false, "create -help a": false,
		"create -b /x --bundle /y a": false, "create -b=/x a": true, "run -d -d a": true,
		"run -dd a": false,
	} {
		if got := runcOracle(strings.Fields(line)).ran != ""; got != ran {
			t.Errorf("oracle runs %q: %v, runc 1.1.5 did: %v", line, got, ran)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0, 1, 15, 23, 24, 38})
	f.Add([]byte{3, 4, 5, 15, 40, 27, 24, 38})
	f.Add([]byte{16, 29, 30, 38, 23, 19})
	f.Add([]byte{15, 61, 48})
	f.Add([]byte{15, 48, 61, 49})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 24 {
			data = data[:24]
		}
		args := make([]string, len(data))
		for i, b := range data {
			args[i] = vocabulary[int(b)%len(vocabulary)]
		}
		checkAgainstRunc(t, args)
	})
}

// checkAgainstRunc is the fuzz property for one line.
func checkAgainstRunc(t *testing.T, args []string) {
	t.Helper()
	inv, err := Parse(args)
	if err != nil {
		t.Fatalf("Parse(%q): %v (no wrapper flags in the input)", args, err)
	}
	if !slices.Equal(inv.Args, args) {
		t.Fatalf("Parse(%q) changed the runtime's arguments to %q", args, inv.Args)
	}
	want := runcOracle(args)

	// rro-runc's own reading of runc must be runc's, exactly.
	_, runcRuns, _ := read(args, runcGlobals, runcCommand, false)
	creates := want.ran == "create" || want.ran == "run" || want.ran == "restore"
	if runcRuns != creates {
		t.Fatalf("Parse(%q): runc reading creates=%v, urfave/cli runs %q", args, runcRuns, want.ran)
	}
	switch {
	case creates:
		// Never a pass-through when runc creates, and runc's
		// reading is the one rewritten (or offered to Choose).
		if !inv.Rewrites() || inv.Command != want.ran || inv.ContainerID != want.id ||
			filepath.Clean(inv.Bundle) != filepath.Clean(want.bundle) {
			t.Fatalf("Parse(%q): rewrites=%v %s id %q bundle %q; runc: %s id %q bundle %q",
				args, inv.Rewrites(), inv.Command, inv.ContainerID, inv.Bundle, want.ran, want.id, want.bundle)
		}
	case want.ran != "" && !inv.Rewrites() && inv.Command != want.ran:
		t.Fatalf("Parse(%q): command %q, runc runs %q", args, inv.Command, want.ran)
	}
	if want.ran != "" && (inv.Log != want.log || inv.LogFormat != want.logFormat) {
		t.Fatalf("Parse(%q): --log %q --log-format %q, runc reads %q %q", args, inv.Log, inv.LogFormat, want.log, want.logFormat)
	}
}

// TestParseAgainstRuncPairs runs the fuzz property over every line of a
// subcommand and two vocabulary words around a container ID, and every
// global word before each subcommand: coverage the random search does not
// promise (a flag runc defines but the reading does not was found only
// here, not in 20,000 fuzz runs).
func TestParseAgainstRuncPairs(t *testing.T) {
	for _, cmd := range []string{"create", "run", "restore"} {
		for _, w1 := range vocabulary {
			checkAgainstRunc(t, []string{w1, cmd, "abc"})
			checkAgainstRunc(t, []string{cmd, w1})
			for _, w2 := range vocabulary {
				checkAgainstRunc(t, []string{cmd, w1, w2, "abc"})
				checkAgainstRunc(t, []string{cmd, "abc", w1, w2})
			}
		}
	}
}
