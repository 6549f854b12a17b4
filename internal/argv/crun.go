package argv

import "strings"

// This file reads a command line as crun does: glibc's argp, in order,
// stopping at the first positional argument (so nothing after the
// container ID is an option). argp, unlike Go's flag package, accepts a
// unique prefix of a long option (--bund DIR), clusters of short options
// (-dbDIR, -db DIR) and attached short values (-bDIR, -fFILE, -b=DIR is
// the directory "=DIR"). The tables are crun 1.8's (`crun [COMMAND] --usage`),
// plus the options later crun releases added (--log-level, run --keep):
// knowing an option crun lacks can only make rro-runc rewrite a bundle
// that crun then refuses to run, never skip one.

type role uint8

const (
	plain role = iota
	bundleOpt
	configOpt
	answers // --help, --usage, --version: crun prints and exits
)

type argpOption struct {
	long  string
	short byte
	kind  flagKind
	role  role
}

var crunGlobal = []argpOption{
	{"cgroup-manager", 0, stringFlag, plain},
	{"debug", 0, boolFlag, plain},
	{"log", 0, stringFlag, plain},
	{"log-format", 0, stringFlag, plain},
	{"log-level", 0, stringFlag, plain},
	{"root", 0, stringFlag, plain},
	{"rootless", 0, stringFlag, plain},
	{"systemd-cgroup", 0, boolFlag, plain},
	{"help", '?', boolFlag, answers},
	{"usage", 0, boolFlag, answers},
	{"version", 'V', boolFlag, answers},
	{"", 'v', boolFlag, answers},
}

// crunRunOptions are run's options: create's, then run's own two; create's
// table is its first ten. The array is static data; the slices are taken
// in crunTable, at call time, because a package-level slice of it would
// make the compiler emit init code that runs at every start of rro-runc.
var crunRunOptions = [...]argpOption{
	{"bundle", 'b', stringFlag, bundleOpt},
	{"config", 'f', stringFlag, configOpt},
	{"console-socket", 0, stringFlag, plain},
	{"no-new-keyring", 0, boolFlag, plain},
	{"no-pivot", 0, boolFlag, plain},
	{"no-subreaper", 0, boolFlag, plain},
	{"pid-file", 0, stringFlag, plain},
	{"preserve-fds", 0, stringFlag, plain},
	{"help", '?', boolFlag, answers},
	{"usage", 0, boolFlag, answers},
	{"detach", 'd', boolFlag, plain},
	{"keep", 0, boolFlag, plain},
}

var crunRestore = []argpOption{
	{"bundle", 'b', stringFlag, bundleOpt},
	{"image-path", 0, stringFlag, plain},
	{"work-path", 0, stringFlag, plain},
	{"tcp-established", 0, boolFlag, plain},
	{"ext-unix-sk", 0, boolFlag, plain},
	{"shell-job", 0, boolFlag, plain},
	{"detach", 'd', boolFlag, plain},
	{"pid-file", 0, stringFlag, plain},
	{"console-socket", 0, stringFlag, plain},
	{"file-locks", 0, boolFlag, plain},
	{"manage-cgroups-mode", 0, stringFlag, plain},
	{"help", '?', boolFlag, answers},
	{"usage", 0, boolFlag, answers},
}

// argpResult is one argp pass.
type argpResult struct {
	failed, answered bool
	bundle, config   string
	// rest is the index of the first positional argument.
	rest int
	// unknown is the option crun does not define that made it fail.
	unknown string
}

// argpParse reads options until the first positional argument, as
// argp_parse with ARGP_IN_ORDER does when the parser leaves arguments to
// its caller, as crun's do. Lenient takes unknown options as boolean and
// ignores --help, --usage and --version.
func argpParse(args []string, table []argpOption, lenient bool) (r argpResult) {
	i := 0
	defer func() { r.rest = i }()
	for i < len(args) {
		arg := args[i]
		if arg == "--" {
			i++
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			break
		}
		i++
		var opt *argpOption
		value, hasValue := "", false
		if arg[1] == '-' {
			name := arg[2:]
			if eq := strings.IndexByte(name, '='); eq >= 0 {
				name, value, hasValue = name[:eq], name[eq+1:], true
			}
			opt = argpLong(table, name)
			switch {
			case opt == nil && lenient:
				continue
			case opt == nil:
				r.failed, r.unknown = true, arg // unrecognized or ambiguous
				return r
			case opt.kind == boolFlag && hasValue:
				r.failed = true // "doesn't allow an argument"
				if !lenient {
					return r
				}
			}
		} else {
			// A cluster of short options: flags until one takes a value,
			// which is the rest of the cluster or else the next argument.
			for j := 1; j < len(arg); j++ {
				o := argpShort(table, arg[j])
				if o == nil {
					if lenient {
						continue
					}
					r.failed, r.unknown = true, arg // "invalid option"
					return r
				}
				opt = o
				if opt.kind != boolFlag {
					if j+1 < len(arg) {
						value, hasValue = arg[j+1:], true
					}
					break
				}
				if opt.role == answers && !lenient {
					r.answered = true
					return r
				}
			}
			if opt == nil {
				continue // lenient: nothing known in the cluster
			}
		}
		if opt.role == answers && !lenient {
			r.answered = true
			return r
		}
		if opt.kind != boolFlag && !hasValue {
			if i >= len(args) {
				r.failed = true // "requires an argument"
				return r
			}
			value = args[i]
			i++
		}
		switch opt.role {
		case bundleOpt:
			r.bundle = value
		case configOpt:
			r.config = value
		}
	}
	return r
}

// argpLong finds a long option by its name or by a prefix, as
// getopt_long does. Several options sharing the prefix are an error to
// getopt only when they differ in what it tracks; crun 1.8.1 takes --r
// for --root although --rootless shares it. So a prefix shared by options
// that take a value or not alike, and that neither name the bundle or the
// config file nor answer by themselves, is read as the first of them: the
// difference cannot move the bundle, and if crun does call it ambiguous,
// rro-runc has only rewritten a bundle crun then refuses to run.
func argpLong(table []argpOption, name string) *argpOption {
	if name == "" {
		return nil
	}
	var found *argpOption
	for k := range table {
		o := &table[k]
		if o.long == "" || !strings.HasPrefix(o.long, name) {
			continue
		}
		if o.long == name {
			return o
		}
		switch {
		case found == nil:
			found = o
		case found.kind != o.kind || found.role != plain || o.role != plain:
			return nil // ambiguous in a way that matters
		}
	}
	return found
}

func argpShort(table []argpOption, c byte) *argpOption {
	for k := range table {
		if table[k].short == c {
			return &table[k]
		}
	}
	return nil
}

// crunKnows reports whether crun defines the option arg (cmd "" for the
// global options): a long name or unique prefix, or a cluster of known
// short options.
func crunKnows(cmd, arg string) bool {
	table := crunTable(cmd)
	if strings.HasPrefix(arg, "--") {
		name, _, _ := strings.Cut(arg[2:], "=")
		return argpLong(table, name) != nil
	}
	for j := 1; j < len(arg); j++ {
		o := argpShort(table, arg[j])
		if o == nil {
			return false
		}
		if o.kind != boolFlag {
			return true
		}
	}
	return len(arg) > 1
}

func crunTable(cmd string) []argpOption {
	switch cmd {
	case "":
		return crunGlobal
	case "run":
		return crunRunOptions[:]
	case "restore":
		return crunRestore
	}
	return crunRunOptions[:10] // create
}

// crunGlobals returns the index of the subcommand crun would run, or -1,
// with the option crun does not define if that was the error.
func crunGlobals(args []string, lenient bool) (int, string) {
	r := argpParse(args, crunGlobal, lenient)
	if r.rest >= len(args) || !lenient && (r.failed || r.answered) {
		return -1, r.unknown
	}
	return r.rest, ""
}

// crunCommand reads the arguments after create, run or restore as crun
// does. ok=false when crun would not run the command.
func crunCommand(cmd string, args []string, lenient bool) (t Target, ok bool, unknown string) {
	maxArgs := 1
	if cmd == "restore" {
		maxArgs = 2 // crun restore takes an optional second argument
	}
	r := argpParse(args, crunTable(cmd), lenient)
	n := len(args) - r.rest
	if lenient {
		t = Target{Runtime: "crun", Bundle: r.bundle, ConfigFile: r.config}
		if n > 0 {
			t.ID = args[r.rest]
		}
		return t, true, ""
	}
	if r.failed || r.answered || n < 1 || n > maxArgs {
		return Target{}, false, r.unknown
	}
	return Target{Runtime: "crun", ID: args[r.rest], Bundle: r.bundle, ConfigFile: r.config}, true, ""
}
