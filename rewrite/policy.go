package rewrite

import "github.com/rro-runc/rro-runc/internal/policy"

// The administrator's vocabulary belongs to the policy stage, which reads
// it; the rewrite stage applies it. These aliases re-export it so that a
// caller outside this module (an NRI plugin, a CI linter, a webhook) writes
// rewrite.Options{Policy: rewrite.Enabled} without importing an internal
// package, and so that rewrite imports policy, not the reverse.

// Policy says how hard rro-runc tries to make read-only binds recursive:
// Disabled < IfPossible < Enabled, Kubernetes' recursiveReadOnly values.
type Policy = policy.Policy

const (
	// Disabled leaves every mount as the client wrote it.
	Disabled = policy.Disabled
	// IfPossible adds rro where the kernel and runtime support it and
	// otherwise leaves the mount read-only at its top only.
	IfPossible = policy.IfPossible
	// Enabled adds rro and refuses the container when it cannot.
	Enabled = policy.Enabled
)

// Propagation says what Enabled does when a candidate mount's propagation
// could let a later host mount arrive writable under it.
type Propagation = policy.Propagation

const (
	// Strict (the default): rprivate is added when no recursive private
	// propagation is given, explicit shared/slave propagation is refused.
	Strict = policy.Strict
	// Lenient adds rro and keeps whatever propagation the client asked for.
	Lenient = policy.Lenient
)

// Options are the administrator's settings: Policy, Exclude (destinations
// never rewritten, each with everything beneath it; HostInterfaces are
// excluded whatever it says), Propagation and AllowAnnotationOptOut.
type Options = policy.Options

// DefaultExclude is the default of Options.Exclude: empty.
var DefaultExclude = policy.DefaultExclude

// ParsePolicy accepts Enabled, IfPossible or Disabled, ignoring case; an
// error wraps ErrUnknownPolicy and names the value.
func ParsePolicy(s string) (Policy, error) { return policy.ParsePolicy(s) }

// ParsePropagation accepts "strict" and "lenient", ignoring case; an error
// wraps ErrUnknownPropagation and names the value.
func ParsePropagation(s string) (Propagation, error) { return policy.ParsePropagation(s) }
