package rewrite

import (
	"errors"
	"testing"

	"github.com/rro-runc/rro-runc/internal/policy"
)

// The vocabulary is re-exported from the policy stage: the aliases and
// sentinels must be the same values, so an error from either package
// matches either sentinel and a rewrite.Options is what policy computes.
func TestVocabularyReexported(t *testing.T) {
	_, err := ParsePolicy("Always")
	if !errors.Is(err, ErrUnknownPolicy) || !errors.Is(err, policy.ErrUnknownPolicy) {
		t.Fatalf("ParsePolicy error %v does not match both sentinels", err)
	}
	if _, err := policy.ParsePropagation("loose"); !errors.Is(err, ErrUnknownPropagation) {
		t.Fatalf("policy.ParsePropagation error %v does not match rewrite.ErrUnknownPropagation", err)
	}
	var o Options = (&policy.Settings{Policy: policy.Enabled, Propagation: policy.Lenient}).Options()
	if o.Policy != Enabled || o.Propagation != Lenient || Enabled.String() != "Enabled" {
		t.Fatalf("Options from policy.Settings = %+v", o)
	}
}
