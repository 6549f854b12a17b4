package argv

import (
	"strconv"
	"strings"
)

// This file reads a command line as runc 1.1 does: urfave/cli v1.22 over
// Go's flag package. The flag tables are runc 1.1.5's (`runc --help`,
// `runc create|run|restore --help`) plus urfave/cli's own help and version
// flags. The fuzz test checks this reading against urfave/cli itself.

type flagKind uint8

const (
	noFlag flagKind = iota
	boolFlag
	stringFlag
	intFlag // Go's strconv.ParseInt(v, 0, 64) must accept the value
)

// runcGlobalFlag is the kind of a runc 1.1 global flag.
func runcGlobalFlag(name string) flagKind {
	switch name {
	case "log", "log-format", "root", "criu", "rootless":
		return stringFlag
	case "debug", "systemd-cgroup", "help", "h", "version", "v":
		return boolFlag
	}
	return noFlag
}

// runcCommandFlag is the kind of a flag of runc 1.1's create, run or
// restore ("help, h" is urfave/cli's, added to every command).
func runcCommandFlag(cmd, name string) flagKind {
	switch name {
	case "help", "h", "no-pivot":
		return boolFlag
	case "bundle", "b", "console-socket", "pid-file":
		return stringFlag
	}
	switch cmd {
	case "create", "run":
		switch name {
		case "no-new-keyring":
			return boolFlag
		case "preserve-fds":
			return intFlag
		}
		if cmd == "run" {
			switch name {
			case "detach", "d", "keep", "no-subreaper":
				return boolFlag
			}
		}
	case "restore":
		switch name {
		case "tcp-established", "ext-unix-sk", "shell-job", "file-locks", "detach", "d",
			"no-subreaper", "auto-dedup", "lazy-pages":
			return boolFlag
		case "image-path", "work-path", "manage-cgroups-mode", "empty-ns", "lsm-profile", "lsm-mount-context":
			return stringFlag
		}
	}
	return noFlag
}

// goFlags is one pass of Go's flag.FlagSet.Parse over args, with urfave/cli's
// normalisation of two-name flags ("bundle, b": using both is an error).
type goFlags struct {
	kind func(name string) flagKind
	// failed: runc stops with "Incorrect Usage" (exit 1).
	failed bool
	// help and version are urfave/cli's flags, as last set.
	help, version bool
	bundle        string
	// forms records which spellings of the two-name flags were set.
	forms uint8
	// rest is where the positional arguments start.
	rest int
	// unknown is the flag that made the parse fail because runc does not
	// define it ("" when the parse failed otherwise, or not at all).
	unknown string
	lenient bool
}

const (
	formBundle = 1 << iota
	formB
	formHelp
	formH
	formVersion
	formV
	formDetach
	formD
)

// parse reads args until the first positional argument, as
// flag.FlagSet.parseOne does. In lenient mode a value Go would reject
// does not stop it.
func (g *goFlags) parse(args []string) {
	i := 0
	defer func() { g.rest = i }()
	for i < len(args) {
		arg := args[i]
		if len(arg) < 2 || arg[0] != '-' {
			break
		}
		name := arg[1:]
		if name[0] == '-' {
			name = name[1:]
			if name == "" { // "--" ends the flags and is consumed
				i++
				break
			}
		}
		if name[0] == '-' || name[0] == '=' {
			g.failed = true // "bad flag syntax"
			return
		}
		value, hasValue := "", false
		if eq := strings.IndexByte(name, '='); eq > 0 {
			name, value, hasValue = name[:eq], name[eq+1:], true
		}
		i++
		kind := g.kind(name)
		switch kind {
		case noFlag:
			g.failed = true // "flag provided but not defined"
			g.unknown = arg
			return
		case boolFlag:
			b := true
			if hasValue {
				var err error
				if b, err = strconv.ParseBool(value); err != nil {
					g.failed = true
					if !g.lenient {
						return
					}
				}
			}
			g.setBool(name, b)
		default:
			if !hasValue {
				if i >= len(args) {
					g.failed = true // "flag needs an argument"
					return
				}
				value = args[i]
				i++
			}
			if kind == intFlag {
				if _, err := strconv.ParseInt(value, 0, 64); err != nil {
					g.failed = true
					if !g.lenient {
						return
					}
				}
			}
			switch name {
			case "bundle":
				g.forms |= formBundle
				g.bundle = value
			case "b":
				g.forms |= formB
				g.bundle = value
			}
		}
	}
	for _, pair := range [...]uint8{formBundle | formB, formHelp | formH, formVersion | formV, formDetach | formD} {
		if g.forms&pair == pair {
			g.failed = true // "Cannot use two forms of the same flag"
		}
	}
}

func (g *goFlags) setBool(name string, b bool) {
	switch name {
	case "help", "h":
		g.help = b
		g.forms |= map2(name == "help", formHelp, formH)
	case "version", "v":
		g.version = b
		g.forms |= map2(name == "version", formVersion, formV)
	case "detach", "d":
		g.forms |= map2(name == "detach", formDetach, formD)
	}
}

func map2(first bool, a, b uint8) uint8 {
	if first {
		return a
	}
	return b
}

// lenientKind takes every flag runc does not define as boolean.
func lenientKind(kind func(string) flagKind) func(string) flagKind {
	return func(name string) flagKind {
		if k := kind(name); k != noFlag {
			return k
		}
		return boolFlag
	}
}

// runcKnows reports whether runc 1.1 defines the flag arg (cmd "" for the
// global flags).
func runcKnows(cmd, arg string) bool {
	name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	if eq := strings.IndexByte(name, '='); eq >= 0 {
		name = name[:eq]
	}
	if cmd == "" {
		return runcGlobalFlag(name) != noFlag
	}
	return runcCommandFlag(cmd, name) != noFlag
}

// runcGlobals returns the index of the subcommand runc 1.1 would run, or
// -1 when runc answers the line itself (a flag error, help, version, or no
// subcommand at all, which prints the help), with the flag runc does not
// define if that was the error. Lenient takes such flags as boolean and
// ignores help and version.
func runcGlobals(args []string, lenient bool) (int, string) {
	g := goFlags{kind: runcGlobalFlag, lenient: lenient}
	if lenient {
		g.kind = lenientKind(runcGlobalFlag)
	}
	g.parse(args)
	if g.rest >= len(args) || !lenient && (g.failed || g.help || g.version) {
		return -1, g.unknown
	}
	return g.rest, ""
}

// runcCommand reads the arguments after create, run or restore. It returns
// ok=false when runc would not run the command: a flag error (unknown is
// then the flag runc does not define, if that was it), a help request, or
// not exactly one container ID. Lenient reads what it can and always runs.
func runcCommand(cmd string, args []string, lenient bool) (t Target, ok bool, unknown string) {
	kind := func(name string) flagKind { return runcCommandFlag(cmd, name) }
	if lenient {
		kind = lenientKind(kind)
	}
	args = urfaveReorder(args, kind)
	g := goFlags{kind: kind, lenient: lenient}
	g.parse(args)
	if lenient {
		t = Target{Runtime: "runc", Bundle: g.bundle}
		if g.rest < len(args) {
			t.ID = args[g.rest]
		}
		return t, true, ""
	}
	if g.failed || g.help || len(args)-g.rest != 1 {
		return Target{}, false, g.unknown
	}
	return Target{Runtime: "runc", ID: args[g.rest], Bundle: g.bundle}, true, ""
}

// urfaveReorder is urfave/cli v1.22's reorderArgs: the command's own flags
// move before the other arguments, each taking along the argument that
// follows it unless that is one of the flags; "--" moves to the front of
// the rest and nothing after it moves. Unknown flags stay where they are,
// for Go's flag package to reject.
func urfaveReorder(args []string, kind func(string) flagKind) []string {
	isFlag := func(arg string) bool {
		if arg == "-" || arg == "--" || !strings.HasPrefix(arg, "-") {
			return false
		}
		name := strings.TrimPrefix(arg, "--")
		name = strings.TrimPrefix(name, "-")
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			name = name[:eq]
		}
		return kind(name) != noFlag
	}
	flags := make([]string, 0, len(args))
	var rest []string
	mayBeValue := false
	for i, arg := range args {
		switch {
		case mayBeValue && !isFlag(arg):
			mayBeValue = false
			flags = append(flags, arg)
		case arg == "--":
			rest = append(append([]string{"--"}, rest...), args[i+1:]...)
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
