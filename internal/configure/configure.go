// Package configure installs rro-runc as a runtime of a container engine
// by editing the engine's own configuration file: containerd's
// config.toml (a CRI runtime handler), Docker's daemon.json (a runtime)
// and Podman's containers.conf (an OCI runtime that gets --log); and
// takes it out again (Remove).
//
// Guarantees:
//   - Lossless: the file is edited as text. Only the values rroctl sets
//     change; every other setting, comment, blank line, key order and
//     quoting style stays as the user wrote it. Parsers locate what to
//     change (go-toml/v2's byte-range parser for TOML, encoding/json's
//     decoder offsets for daemon.json) and read what is set, never write
//     the file.
//   - Checked: after editing, the result is parsed again (BurntSushi/toml,
//     encoding/json) and must equal the parsed original with exactly the
//     intended settings applied. A layout that cannot be edited that way
//     (say, a table written inline) is refused with ErrUnsupported
//     instead of being corrupted.
//   - Idempotent: when everything is already set, Edit returns its input
//     unchanged, byte for byte, and Apply writes nothing; so do Remove
//     and ApplyRemove when nothing is installed.
//   - Reversible: Remove takes out exactly what Edit installs for the same
//     Options, and refuses (ErrNotOurs) a runtime of that name it does
//     not recognise as rroctl's; Remove(Edit(x)) is x byte for byte but
//     for the few layouts Remove documents.
//   - Safe on disk (Apply, ApplyRemove): a file that does not parse is
//     refused with ErrParse and left untouched; a changed file is
//     replaced atomically, after a backup of the original is made beside
//     it.
//
// Imports: configure is not a stage of the wrapper's data path; it writes
// what the wrapper will later read. It takes the wrapper flag's name from
// internal/argv (the stage that parses it) and the policy names and
// annotations from rewrite, so an engine config can never spell a flag or
// a value the wrapper does not accept. Neither of those imports configure,
// so the dependency runs one way, toward the stages it configures;
// moving the names into configure would make argv import rroctl's editor.
package configure

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rro-runc/rro-runc/rewrite"
)

var (
	// ErrParse is wrapped by the error for a file that is not valid TOML
	// or JSON, or not of the shape the engine reads.
	ErrParse = errors.New("cannot parse")
	// ErrUnsupported is wrapped when the file is valid but rroctl cannot
	// edit it safely (an unknown containerd config version, a table
	// written inline, ...).
	ErrUnsupported = errors.New("cannot edit safely")
	// ErrInvalidOption is wrapped by errors about Options.
	ErrInvalidOption = errors.New("invalid option")
)

// Target is the engine whose configuration is edited.
type Target string

const (
	Containerd Target = "containerd"
	Docker     Target = "docker"
	Podman     Target = "podman"
)

// Targets lists every Target.
var Targets = []Target{Containerd, Docker, Podman}

// DefaultPath is the engine's system-wide configuration file.
func (t Target) DefaultPath() string {
	switch t {
	case Containerd:
		return "/etc/containerd/config.toml"
	case Docker:
		return "/etc/docker/daemon.json"
	case Podman:
		return "/etc/containers/containers.conf"
	}
	return ""
}

// ParseTarget accepts "containerd", "docker" or "podman".
func ParseTarget(s string) (Target, error) {
	if t := Target(s); slices.Contains(Targets, t) {
		return t, nil
	}
	return "", fmt.Errorf("%w: unknown engine %q (want containerd, docker or podman)", ErrInvalidOption, s)
}

// DefaultRuntimeName is the runtime (handler) name used when none is given.
const DefaultRuntimeName = "rro"

// PodAnnotations are the pod annotations containerd's CRI plugin passes
// through to rro-runc: the two meant for pods. Never a pattern such as
// org.rro-runc.*: that would let any pod set org.rro-runc.applied,
// rro-runc's own record of what it did, and claim a protection it does
// not have.
var PodAnnotations = []string{rewrite.AnnotationPolicy, rewrite.AnnotationExclude}

// legacyPodAnnotations is what rroctl wrote before PodAnnotations; a run
// over a file holding it replaces it.
const legacyPodAnnotations = "org.rro-runc.*"

// Options say what to install.
type Options struct {
	// RuntimeName is the runtime's name in the engine (containerd's
	// runtime handler, the name for docker/podman --runtime).
	RuntimeName string
	// Binary is the rro-runc executable the engine runs.
	Binary string
	// SetAsDefault makes the runtime the engine's default.
	SetAsDefault bool
	// Policy, for Docker only, is passed as --rro-policy=Policy through
	// runtimeArgs. Empty leaves the policy to rro-runc's configuration.
	Policy string
	// RuncRoot, for containerd only, is the runtime's state directory
	// (options Root). Empty leaves containerd's default.
	RuncRoot string
}

var runtimeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (o *Options) check(t Target) error {
	if !runtimeNameRE.MatchString(o.RuntimeName) {
		return fmt.Errorf("%w: runtime name %q: want letters, digits, '_', '.' and '-', starting with a letter or digit", ErrInvalidOption, o.RuntimeName)
	}
	if o.Binary == "" || !utf8.ValidString(o.Binary) || strings.ContainsAny(o.Binary, "\x00\n") {
		return fmt.Errorf("%w: binary %q: want a path", ErrInvalidOption, o.Binary)
	}
	if o.Policy != "" {
		if t != Docker {
			return fmt.Errorf("%w: a policy can only be set for docker (runtimeArgs); for %s set it in rro-runc's configuration", ErrInvalidOption, t)
		}
		p, err := rewrite.ParsePolicy(o.Policy)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
		o.Policy = p.String()
	}
	if o.RuncRoot != "" {
		if t != Containerd {
			return fmt.Errorf("%w: a runc root can only be set for containerd", ErrInvalidOption)
		}
		if !utf8.ValidString(o.RuncRoot) || strings.ContainsAny(o.RuncRoot, "\x00\n") {
			return fmt.Errorf("%w: runc root %q: want a path", ErrInvalidOption, o.RuncRoot)
		}
	}
	return nil
}

// Edit returns the configuration src with rro-runc installed as o says.
// src may be empty (a new file). It returns src itself when nothing needs
// to change. name is the file's name, for error messages.
func Edit(t Target, name string, src []byte, o Options) ([]byte, error) {
	return dispatch(t, name, src, o, map[Target]func([]byte, Options) ([]byte, error){
		Containerd: editContainerd, Docker: editDocker, Podman: editPodman,
	})
}

// dispatch checks o and runs the target's function on src; its errors
// name the file.
func dispatch(t Target, name string, src []byte, o Options, fns map[Target]func([]byte, Options) ([]byte, error)) ([]byte, error) {
	if _, err := ParseTarget(string(t)); err != nil {
		return nil, err
	}
	if err := o.check(t); err != nil {
		return nil, err
	}
	out, err := fns[t](src, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
