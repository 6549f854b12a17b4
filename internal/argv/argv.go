// Package argv reads a runc-compatible command line just far enough to
// know what rro-runc must do: which subcommand runs, where the bundle and
// its config file are, where the runtime's log goes, and which of the
// arguments are rro-runc's own.
//
// Guarantees:
//   - Parse never fails because of the runtime's own flags: whatever it does
//     not understand is handed to the runtime unchanged, and the runtime
//     reports it. Only a malformed rro-runc flag is an error.
//   - Args is the command line the real runtime must see: argv[1:] with the
//     wrapper flags removed and nothing else changed.
//   - The reading follows runc (urfave/cli v1 over Go's flag package) and
//     crun (argp): global flags stop at the first non-flag, which is the
//     subcommand even when its name is a flag value elsewhere; subcommand
//     flags may follow positional arguments; "--" ends flag parsing.
//   - It allocates nothing but the result and touches no file, so the
//     pass-through path stays a scan and an exec.
package argv

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrWrapperFlag is wrapped by every error about an rro-runc flag.
var ErrWrapperFlag = errors.New("invalid rro-runc flag")

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
	// line has none (--version, --help, no arguments).
	Command string
	// CommandIndex is Command's index in Args, or -1.
	CommandIndex int
	// ContainerID is the first positional argument after the subcommand.
	ContainerID string
	// Bundle is the --bundle value as given; "" means the current directory.
	Bundle string
	// ConfigFile is crun's --config value as given; "" means config.json.
	ConfigFile string
	// Log and LogFormat are the runtime's --log and --log-format values.
	Log, LogFormat string

	// The wrapper flags; "" when not given.
	Policy, Runtime, Config string
}

// Rewrites reports whether the subcommand creates a container from a
// bundle, the only moment a config.json can still be changed.
func (inv *Invocation) Rewrites() bool {
	switch inv.Command {
	case "create", "run", "restore":
		return true
	}
	return false
}

// ConfigPath is the config file the runtime will read. crun chdirs into
// the bundle before it opens --config, so a relative --config is relative
// to the bundle, and the bundle is relative to the working directory.
func (inv *Invocation) ConfigPath() string {
	bundle := inv.Bundle
	if bundle == "" {
		bundle = "."
	}
	config := inv.ConfigFile
	if config == "" {
		config = "config.json"
	}
	if filepath.IsAbs(config) {
		return config
	}
	return filepath.Join(bundle, config)
}

// globalValueFlags are the global flags of runc and crun that take a
// value; every other global flag is boolean.
var globalValueFlags = map[string]bool{
	"log": true, "log-format": true, "root": true, "criu": true,
	"rootless": true, "cgroup-manager": true, "log-level": true,
}

// commandValueFlags are the value-taking flags of the subcommands that
// rro-runc reads (create, run, restore) in runc and crun. Knowing them is
// what keeps "--pid-file create" or "--console-socket -b" from being
// misread; an unknown flag is taken as boolean, which can only make the
// container ID wrong, never the bundle.
var commandValueFlags = map[string]bool{
	"bundle": true, "b": true, "config": true, "f": true,
	"console-socket": true, "pid-file": true, "preserve-fds": true,
	"image-path": true, "work-path": true, "parent-path": true,
	"manage-cgroups-mode": true, "empty-ns": true, "lsm-profile": true,
	"lsm-mount-context": true, "status-fd": true, "page-server": true,
}

// commandBoolFlags are the boolean flags of create, run and restore, known
// so that a single-dash spelling such as -file-locks is not taken for
// crun's attached short form -fVALUE.
var commandBoolFlags = map[string]bool{
	"detach": true, "d": true, "no-pivot": true, "no-new-keyring": true,
	"keep": true, "no-subreaper": true, "tcp-established": true,
	"ext-unix-sk": true, "shell-job": true, "file-locks": true,
	"auto-dedup": true, "lazy-pages": true,
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
		if inv.Rewrites() {
			inv.scanCommand(inv.Args[i+1:])
		}
	}
	return inv, nil
}

// scanGlobals walks the global flags, removing wrapper flags from
// inv.Args, and returns the index of the subcommand.
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
		if globalValueFlags[name] {
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

// scanCommand reads the flags of create, run and restore the way runc
// (urfave/cli v1) does: flags are first moved before the positional
// arguments, each dragging along the non-flag argument that follows it,
// then read in order until the first positional argument, which is the
// container ID; "--" ends both steps. So flags may follow the container
// ID, and the last --bundle wins. crun's argp permutes the same way.
func (inv *Invocation) scanCommand(args []string) {
	args = reorder(args)
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			if i+1 < len(args) {
				inv.ContainerID = args[i+1]
			}
			return
		}
		name, value, hasValue, ok := splitCommandFlag(arg)
		if !ok {
			inv.ContainerID = arg
			return
		}
		if !commandValueFlags[name] {
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return
			}
			i++
			value = args[i]
		}
		switch name {
		case "bundle", "b":
			inv.Bundle = value
		case "config", "f":
			inv.ConfigFile = value
		}
	}
}

// reorder is urfave/cli v1's argument reordering (v1.22, used by runc 1.1).
func reorder(args []string) []string {
	flags := make([]string, 0, len(args))
	var rest []string
	mayBeValue := false
	for i, arg := range args {
		name, _, hasValue, isFlag := splitCommandFlag(arg)
		// Only flags the command defines move; urfave/cli leaves the rest
		// in place (and Go's flag package then rejects them).
		isFlag = isFlag && (commandValueFlags[name] || commandBoolFlags[name])
		switch {
		case mayBeValue && !isFlag:
			mayBeValue = false
			flags = append(flags, arg)
		case arg == "--":
			rest = append(rest, args[i:]...)
			return append(flags, rest...)
		case isFlag:
			flags = append(flags, arg)
			mayBeValue = !hasValue
		default:
			rest = append(rest, arg)
		}
	}
	return append(flags, rest...)
}

// splitCommandFlag is splitFlag plus argp's attached short values -bDIR
// and -fFILE (crun), told apart from single-dash long flags by name.
func splitCommandFlag(arg string) (name, value string, hasValue, ok bool) {
	name, value, hasValue, ok = splitFlag(arg)
	if ok && !hasValue && arg[1] != '-' && !commandValueFlags[name] && !commandBoolFlags[name] &&
		(name[0] == 'b' || name[0] == 'f') {
		return name[:1], name[1:], true, true
	}
	return name, value, hasValue, ok
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
