package rewrite

import "errors"

// Sentinel errors, kept in one place so callers can tell failures apart
// with errors.Is. Every error returned by this package wraps one of them
// and adds the input it is about (a mount index, destination or key).
var (
	// ErrUnknownPolicy: a policy name that is not Enabled, IfPossible or Disabled.
	ErrUnknownPolicy = errors.New("unknown policy")
	// ErrUnknownPropagation: a propagation mode other than strict or lenient.
	ErrUnknownPropagation = errors.New("unknown propagation mode")
)
