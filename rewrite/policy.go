package rewrite

import (
	"fmt"
	"strings"
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
