// Package argv reads a runc-compatible command line just far enough to
// know what rro-runc must do: whether a container is about to be created
// from a bundle, where that bundle and its config file are, where the
// runtime's log goes, and which of the arguments are rro-runc's own.
//
// Guarantees:
//   - Parse never fails because of the runtime's own flags: whatever it does
//     not understand is handed to the runtime unchanged, and the runtime
//     reports it. Only a malformed rro-runc flag is an error.
//   - Args is the command line the real runtime must see: argv[1:] with the
//     wrapper flags removed and nothing else changed.
//   - Rewrites is true exactly when runc 1.1 (urfave/cli v1 over Go's flag
//     package) or crun (glibc argp) would run create, run or restore from a
//     bundle. A line either runtime answers by itself (--help or -h in any
//     position it accepts them, help, --version, a flag it rejects, a
//     missing or extra container ID) passes through untouched, exactly as
//     the runtime answers it. Both readings are made because rro-runc does
//     not know which runtime's grammar applies before it has read the
//     configuration: a line is a pass-through only when neither would
//     create, so no spelling can carry a container past the rewrite.
//   - A create, run or restore line with a flag neither runc nor crun
//     defines is rewritten, help or not: another runtime may define it and
//     run the line. It is read as before, unknown flags taken as boolean.
//   - When both would create but read different bundles (-b=DIR is "DIR"
//     to runc and "=DIR" to crun), Alternative holds crun's reading and
//     Choose picks the one whose config file exists, or refuses.
//   - It allocates nothing but the result and touches no file, so the
//     pass-through path stays a scan and an exec; its tables are static
//     data, built at compile time, not at start-up.
package argv

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrWrapperFlag is wrapped by every error about an rro-runc flag.
var ErrWrapperFlag = errors.New("invalid rro-runc flag")

// ErrAmbiguous is returned by Choose when runc and crun would create from
// two different bundles that both hold a config file.
var ErrAmbiguous = errors.New("ambiguous command line")

// Wrapper flags: accepted before the subcommand, removed before the exec,
// so Docker runtimeArgs and Podman --runtime-flag can set them.
const (
	FlagPolicy  = "rro-policy"
	FlagRuntime = "rro-runtime"
	FlagConfig  = "rro-config"
)

// Invocation is what rro-runc learned from its command line.
type Invocation struct {
	// Args is what the real runtime gets: argv[1:] minus wrapper flags.
	Args []string
	// Command is the subcommand ("create", "state", ...), or "" when the
	// line has none (--version, --help, no arguments). For a line that
	// creates, it is the creating runtime's reading; otherwise the first
	// argument after the global flags, any unknown flag taken as boolean.
	Command string
	// CommandIndex is Command's index in Args, or -1.
	CommandIndex int
	// ContainerID, Bundle and ConfigFile are set when Rewrites: the
	// container ID, the --bundle value as given ("" means the current
	// directory) and crun's --config value ("" means config.json).
	ContainerID, Bundle, ConfigFile string
	// Log and LogFormat are the runtime's --log and --log-format values.
	Log, LogFormat string

	// The wrapper flags; "" when not given.
	Policy, Runtime, Config string

	// Alternative is crun's reading when runc's (the one above) differs
	// from it; nil otherwise. See Choose.
	Alternative *Target

	creates bool
	foreign bool
}

// Target is one runtime's reading of a line that creates a container.
type Target struct {
	// Runtime is whose grammar read it: "runc" or "crun".
	Runtime                string
	Command                string
	ID, Bundle, ConfigFile string
	commandIndex           int
}

// ConfigPath is the config file the runtime will read. crun chdirs into
// the bundle before it opens --config, so a relative --config is relative
// to the bundle, and the bundle is relative to the working directory.
func (t *Target) ConfigPath() string {
	bundle := t.Bundle
	if bundle == "" {
		bundle = "."
	}
	config := t.ConfigFile
	if config == "" {
		config = "config.json"
	}
	if filepath.IsAbs(config) {
		return config
	}
	return filepath.Join(bundle, config)
}

// Rewrites reports whether the real runtime will create a container from
// a bundle (create, run or restore, as runc or crun reads the line), the
// only moment a config.json can still be changed.
func (inv *Invocation) Rewrites() bool { return inv.creates }

// ConfigPath is the config file the runtime will read (see Target.ConfigPath).
func (inv *Invocation) ConfigPath() string {
	t := Target{Bundle: inv.Bundle, ConfigFile: inv.ConfigFile}
	return t.ConfigPath()
}

// Choose settles a line that runc and crun would both run but from
// different bundles: the runtime can only create from a config file that
// exists, so the reading whose config file exists is the one to rewrite.
// When both exist it refuses (ErrAmbiguous) rather than guess; when
// neither does, runc's reading stays and reading it fails, naming it.
// exists is os.Lstat's success outside tests.
func (inv *Invocation) Choose(exists func(path string) bool) error {
	alt := inv.Alternative
	if alt == nil {
		return nil
	}
	mine, theirs := exists(inv.ConfigPath()), exists(alt.ConfigPath())
	switch {
	case mine && theirs:
		return fmt.Errorf("%w: runc reads config file %s, crun reads %s, and both exist: spell the bundle as --bundle DIR",
			ErrAmbiguous, inv.ConfigPath(), alt.ConfigPath())
	case theirs:
		inv.use(*alt)
	}
	inv.Alternative = nil
	return nil
}

func (inv *Invocation) use(t Target) {
	inv.creates = true
	inv.Command, inv.CommandIndex = t.Command, t.commandIndex
	inv.ContainerID, inv.Bundle, inv.ConfigFile = t.ID, t.Bundle, t.ConfigFile
}

// Parse reads argv[1:].
func Parse(args []string) (*Invocation, error) {
	inv := &Invocation{Args: args, CommandIndex: -1}
	i, err := inv.scanGlobals()
	if err != nil {
		return nil, err
	}
	if i < len(inv.Args) {
		inv.CommandIndex = i
		inv.Command = inv.Args[i]
	}
	if !inv.decide(false) && (inv.foreign || inv.foreignFlag()) {
		// A flag neither runc nor crun defines: another runtime may
		// define it, so nothing is certain and the safe side is the
		// rewrite. Read the line again, taking such flags as boolean.
		inv.decide(true)
	}
	return inv, nil
}

// foreignFlag reports whether a create, run or restore line that neither
// reading runs holds, anywhere before "--", a flag neither runc nor crun
// defines where it stands. A reading can stop before reaching it (runc
// counts two container IDs in "create ID --future-flag" and never looks
// at the flag), yet a runtime that knows the flag may run the line.
func (inv *Invocation) foreignFlag() bool {
	switch inv.Command {
	case "create", "run", "restore":
	default:
		return false
	}
	for i, arg := range inv.Args {
		if arg == "--" {
			return false
		}
		if len(arg) < 2 || arg[0] != '-' || i == inv.CommandIndex {
			continue
		}
		cmd := ""
		if i > inv.CommandIndex {
			cmd = inv.Command
		}
		if !runcKnows(cmd, arg) && !crunKnows(cmd, arg) {
			return true
		}
	}
	return false
}

// decide reads the line as runc and as crun would and takes the reading
// that creates; it reports whether one does. In strict mode, foreign is
// set when a reading stopped at a flag neither runtime defines.
func (inv *Invocation) decide(lenient bool) bool {
	r, rok, rUnknown := read(inv.Args, runcGlobals, runcCommand, lenient)
	c, cok, cUnknown := read(inv.Args, crunGlobals, crunCommand, lenient)
	switch {
	case rok:
		inv.use(r)
		if cok && c.ConfigPath() != r.ConfigPath() {
			alt := c // a copy, so that c itself never escapes to the heap
			inv.Alternative = &alt
		}
		return true
	case cok:
		inv.use(c)
		return true
	}
	inv.foreign = rUnknown != "" && !crunKnows(r.Command, rUnknown) ||
		cUnknown != "" && !runcKnows(c.Command, cUnknown)
	return false
}

// read is one runtime's reading: its global flags, then, for create, run
// and restore, the command's flags and arguments. On a line it would not
// run, Command is the subcommand whose flags it was reading ("" for the
// global ones) and unknown the flag it does not define that stopped it.
func read(args []string,
	globals func([]string, bool) (int, string),
	command func(string, []string, bool) (Target, bool, string),
	lenient bool,
) (t Target, ok bool, unknown string) {
	i, unknown := globals(args, lenient)
	if i < 0 {
		return Target{}, false, unknown
	}
	switch cmd := args[i]; cmd {
	case "create", "run", "restore":
		t, ok, unknown = command(cmd, args[i+1:], lenient)
		t.Command, t.commandIndex = cmd, i
		return t, ok, unknown
	}
	return Target{}, false, ""
}

// globalValueFlag reports whether a global flag of runc or crun takes a
// value; every other global flag is taken as boolean by scanGlobals.
func globalValueFlag(name string) bool {
	switch name {
	case "log", "log-format", "root", "criu", "rootless", "cgroup-manager", "log-level":
		return true
	}
	return false
}

// scanGlobals walks the global flags, removing wrapper flags from
// inv.Args and reading --log and --log-format, and returns the index of
// the first argument after them.
func (inv *Invocation) scanGlobals() (int, error) {
	copied := false
	i := 0
	for i < len(inv.Args) {
		arg := inv.Args[i]
		if arg == "--" {
			return i + 1, nil
		}
		name, value, hasValue, ok := splitFlag(arg)
		if !ok {
			return i, nil
		}
		if target := inv.wrapperField(name); target != nil {
			n := 1
			if !hasValue {
				if i+1 >= len(inv.Args) {
					return 0, fmt.Errorf("%w: --%s needs a value", ErrWrapperFlag, name)
				}
				value, n = inv.Args[i+1], 2
			}
			if value == "" {
				return 0, fmt.Errorf("%w: --%s needs a non-empty value", ErrWrapperFlag, name)
			}
			*target = value
			if !copied {
				// Never write into the caller's slice (it is os.Args).
				inv.Args = append([]string(nil), inv.Args...)
				copied = true
			}
			inv.Args = append(inv.Args[:i], inv.Args[i+n:]...)
			continue
		}
		if globalValueFlag(name) {
			if !hasValue {
				if i+1 >= len(inv.Args) {
					return len(inv.Args), nil
				}
				i++
				value = inv.Args[i]
			}
			switch name {
			case "log":
				inv.Log = value
			case "log-format":
				inv.LogFormat = value
			}
		}
		i++
	}
	return i, nil
}

func (inv *Invocation) wrapperField(name string) *string {
	switch name {
	case FlagPolicy:
		return &inv.Policy
	case FlagRuntime:
		return &inv.Runtime
	case FlagConfig:
		return &inv.Config
	}
	return nil
}

// splitFlag splits "-x", "--x", "-x=v" and "--x=v". ok is false for
// anything that is not a flag: a positional argument, "-" (stdin by
// convention) or "" .
func splitFlag(arg string) (name, value string, hasValue, ok bool) {
	if len(arg) < 2 || arg[0] != '-' {
		return "", "", false, false
	}
	name = arg[1:]
	if name[0] == '-' {
		name = name[1:]
	}
	if name == "" || name[0] == '-' || name[0] == '=' {
		// "---x" and "-=x" are not flags to Go's flag package either;
		// hand them to the runtime to reject.
		return "", "", false, false
	}
	if eq := strings.IndexByte(name, '='); eq >= 0 {
		return name[:eq], name[eq+1:], true, true
	}
	return name, "", false, true
}
