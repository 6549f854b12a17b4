package argv

import (
	"flag"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// vocabulary is what generated command lines are made of: runc's global
// and create flags in every spelling, values that look like subcommands or
// flags, and positional words.
var vocabulary = []string{
	"--root", "-root", "--root=/r", "--log", "--log=/l", "-log", "--log-format", "--log-format=json",
	"--criu", "--rootless", "--rootless=auto", "--debug", "-debug", "--systemd-cgroup", "--debug=false",
	"create", "run", "restore", "state", "delete", "exec", "kill",
	"--bundle", "-bundle", "--bundle=/b1", "-b", "-b=/b2", "/b3", "--pid-file", "--pid-file=/p",
	"--console-socket", "--no-pivot", "--no-new-keyring", "--preserve-fds", "--preserve-fds=1",
	"--", "-", "abc", "create", "/b4", "json", "text", "-x",
}

// reference reads a line the way runc 1.1 does: Go's flag package for the
// global flags, then urfave/cli v1's argument reordering and Go's flag
// package again for create's flags. ok is false when runc would reject
// the line (a flag error, or not exactly one container ID), in which case
// what rro-runc reads does not matter: the runtime will fail.
func reference(args []string) (cmd, bundle string, ok bool) {
	global := flag.NewFlagSet("runc", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	for _, name := range []string{"root", "log", "log-format", "criu", "rootless"} {
		global.String(name, "", "")
	}
	for _, name := range []string{"debug", "systemd-cgroup"} {
		global.Bool(name, false, "")
	}
	if global.Parse(args) != nil || global.NArg() == 0 {
		return "", "", false
	}
	cmd = global.Arg(0)
	if cmd != "create" && cmd != "run" && cmd != "restore" {
		return cmd, "", true
	}
	local := flag.NewFlagSet(cmd, flag.ContinueOnError)
	local.SetOutput(io.Discard)
	b := local.String("bundle", "", "")
	local.StringVar(b, "b", "", "")
	for _, name := range []string{"console-socket", "pid-file", "preserve-fds"} {
		local.String(name, "", "")
	}
	for _, name := range []string{"no-pivot", "no-new-keyring"} {
		local.Bool(name, false, "")
	}
	if local.Parse(reorderArgs(local, global.Args()[1:])) != nil || local.NArg() != 1 {
		return cmd, "", false
	}
	return cmd, *b, true
}

// reorderArgs is urfave/cli v1.22's: flags move before positional
// arguments, a flag's following non-flag argument moves with it, and
// nothing moves past "--".
func reorderArgs(fs *flag.FlagSet, args []string) []string {
	isFlag := func(arg string) bool {
		if arg == "-" || arg == "--" || !strings.HasPrefix(arg, "-") {
			return false
		}
		name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		name, _, _ = strings.Cut(name, "=")
		return fs.Lookup(name) != nil
	}
	var flags, rest []string
	mayBeValue := false
	for i, arg := range args {
		switch {
		case mayBeValue && !isFlag(arg):
			mayBeValue = false
			flags = append(flags, arg)
		case arg == "--":
			rest = append(rest, args[i:]...)
			return append(flags, rest...)
		case isFlag(arg):
			flags = append(flags, arg)
			mayBeValue = !strings.Contains(arg, "=")
		default:
			rest = append(rest, arg)
		}
	}
	return append(flags, rest...)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0, 1, 15, 23, 24, 38})
	f.Add([]byte{3, 4, 5, 15, 40, 27, 24, 38})
	f.Add([]byte{16, 29, 30, 38, 23, 19})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 24 {
			data = data[:24]
		}
		args := make([]string, len(data))
		for i, b := range data {
			args[i] = vocabulary[int(b)%len(vocabulary)]
		}
		inv, err := Parse(args)
		if err != nil {
			t.Fatalf("Parse(%q): %v (no wrapper flags in the input)", args, err)
		}
		if !slices.Equal(inv.Args, args) {
			t.Fatalf("Parse(%q) changed the runtime's arguments to %q", args, inv.Args)
		}
		cmd, bundle, ok := reference(args)
		if !ok {
			return
		}
		if inv.Command != cmd {
			t.Fatalf("Parse(%q): command %q, runc reads %q", args, inv.Command, cmd)
		}
		if inv.Rewrites() && filepath.Clean(inv.Bundle) != filepath.Clean(bundle) {
			t.Fatalf("Parse(%q): bundle %q, runc reads %q", args, inv.Bundle, bundle)
		}
	})
}
