package policy

import (
	"errors"
	"fmt"
	"strings"
)

// The administrator's vocabulary: what the configuration file, the
// environment, the wrapper flags and the pod annotations may say. It is
// defined here, in the stage that reads it, and the rewrite stage (stage 4)
// imports it and re-exports it under the same names (rewrite.Policy,
// rewrite.Enabled, rewrite.Options, ...), so that imports follow the data
// path argv → policy → probe → rewrite → launch and code outside this
// module keeps writing rewrite.Enabled.

// Sentinel errors of the parsers; rewrite re-exports the same values, so
// errors.Is(err, rewrite.ErrUnknownPolicy) and
// errors.Is(err, policy.ErrUnknownPolicy) are one test.
var (
	// ErrUnknownPolicy: a policy name that is not Enabled, IfPossible or Disabled.
	ErrUnknownPolicy = errors.New("unknown policy")
	// ErrUnknownPropagation: a propagation mode other than strict or lenient.
	ErrUnknownPropagation = errors.New("unknown propagation mode")
)

// Policy says how hard rro-runc tries to make read-only binds recursive.
// The names and their meaning are Kubernetes' recursiveReadOnly values.
// The order matters: a larger Policy is stricter.
type Policy int

const (
	// Disabled leaves every mount as the client wrote it.
	Disabled Policy = iota
	// IfPossible adds rro where the kernel and runtime support it and
	// otherwise leaves the mount read-only at its top only.
	IfPossible
	// Enabled adds rro and refuses the container when it cannot.
	Enabled
)

var policyNames = [...]string{Disabled: "Disabled", IfPossible: "IfPossible", Enabled: "Enabled"}

func (p Policy) String() string {
	if p < Disabled || p > Enabled {
		return fmt.Sprintf("Policy(%d)", int(p))
	}
	return policyNames[p]
}

// ParsePolicy accepts the three names, ignoring case so that a hand-edited
// "enabled" is not rejected, and names the bad value otherwise.
func ParsePolicy(s string) (Policy, error) {
	for p, name := range policyNames {
		if strings.EqualFold(s, name) {
			return Policy(p), nil
		}
	}
	return Disabled, fmt.Errorf("%w %q (want Enabled, IfPossible or Disabled)", ErrUnknownPolicy, s)
}

// Propagation says what to do when a candidate mount's propagation could
// let a later host mount arrive writable under it.
type Propagation int

const (
	// Strict (the default) makes Enabled mean "recursively read-only for
	// the container's whole life": rprivate is added when no propagation
	// is given, and explicit shared/slave propagation is refused.
	Strict Propagation = iota
	// Lenient adds rro and keeps whatever propagation the client asked for.
	Lenient
)

func (p Propagation) String() string {
	if p == Lenient {
		return "lenient"
	}
	return "strict"
}

// ParsePropagation accepts "strict" and "lenient", ignoring case.
func ParsePropagation(s string) (Propagation, error) {
	switch {
	case strings.EqualFold(s, "strict"):
		return Strict, nil
	case strings.EqualFold(s, "lenient"):
		return Lenient, nil
	}
	return Strict, fmt.Errorf("%w %q (want strict or lenient)", ErrUnknownPropagation, s)
}

// DefaultExclude is the default of Options.Exclude: empty. Destinations
// are chosen by whoever writes the pod, so no destination is excluded
// unless an administrator writes it; the runtime interfaces recursion
// breaks are recognised by their source instead (rewrite.HostInterfaces).
var DefaultExclude []string

// Options are the administrator's settings the rewrite stage applies
// (rewrite.Options is this type).
type Options struct {
	// Policy from the admin config (flag > env > file > default).
	Policy Policy
	// Exclude lists container destinations never rewritten, as an
	// administrator writes them (the default is none). Each excludes
	// itself and everything beneath it, compared by path component on
	// cleaned paths: "/dev" excludes "/dev/shm" but not "/device". Empty
	// entries are ignored; "/" excludes everything. Binds of the host's
	// own interfaces (rewrite.HostInterfaces) are excluded whatever this
	// says.
	Exclude []string
	// Propagation: what Enabled does with a candidate's propagation.
	Propagation Propagation
	// AllowAnnotationOptOut lets a container's annotations lower the
	// policy (org.rro-runc.policy) or exclude destinations
	// (org.rro-runc.exclude); without it they may only raise the policy.
	AllowAnnotationOptOut bool
}
