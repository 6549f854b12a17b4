package rewrite

import (
	"errors"

	"github.com/rro-runc/rro-runc/internal/policy"
)

// Sentinel errors, kept in one place so callers can tell failures apart
// with errors.Is. Every error returned by this package wraps one of them
// and adds the input it is about (a mount index, destination or key).
var (
	// ErrUnknownPolicy: a policy name that is not Enabled, IfPossible or
	// Disabled. The same value as policy.ErrUnknownPolicy.
	ErrUnknownPolicy = policy.ErrUnknownPolicy
	// ErrUnknownPropagation: a propagation mode other than strict or
	// lenient. The same value as policy.ErrUnknownPropagation.
	ErrUnknownPropagation = policy.ErrUnknownPropagation
	// ErrInvalidConfig: config.json is not JSON, or a field rro-runc reads
	// has a shape runc would not accept either.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrAnnotation: an org.rro-runc.* annotation with an unknown value, or
	// an opt-out the administrator did not allow.
	ErrAnnotation = errors.New("annotation refused")
	// ErrRefused: the container must not start. Wrapped by the two below.
	ErrRefused = errors.New("container refused")
	// ErrUnsupported: policy Enabled, but the kernel or runtime cannot do rro.
	ErrUnsupported error = &refusal{"recursive read-only not supported"}
	// ErrPropagation: policy Enabled with strict propagation, and a mount
	// whose propagation would let later host mounts in writable.
	ErrPropagation error = &refusal{"propagation"}
)

// refusal is a kind of ErrRefused. It is a type, not fmt.Errorf at package
// init, because this package's init runs on every rro-runc call.
type refusal struct{ kind string }

func (r *refusal) Error() string { return ErrRefused.Error() + ": " + r.kind }
func (r *refusal) Unwrap() error { return ErrRefused }
