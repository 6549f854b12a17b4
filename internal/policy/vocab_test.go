package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in   string
		want Policy
		err  bool
	}{
		{"Enabled", Enabled, false},
		{"enabled", Enabled, false},
		{"IFPOSSIBLE", IfPossible, false},
		{"Disabled", Disabled, false},
		{"", Disabled, true},
		{"on", Disabled, true},
		{" Enabled", Disabled, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePolicy(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParsePolicy(%q) = %v, %v", tt.in, got, err)
			}
			if err != nil && (!errors.Is(err, ErrUnknownPolicy) || !strings.Contains(err.Error(), `"`+tt.in+`"`)) {
				t.Fatalf("error %v does not wrap ErrUnknownPolicy and name the input", err)
			}
			if err == nil {
				if back, _ := ParsePolicy(got.String()); back != got {
					t.Fatalf("%v does not round-trip through String", got)
				}
			}
		})
	}
	if s := Policy(7).String(); s != "Policy(7)" {
		t.Errorf("Policy(7).String() = %q", s)
	}
}

func TestParsePropagation(t *testing.T) {
	tests := []struct {
		in   string
		want Propagation
		err  bool
	}{
		{"strict", Strict, false},
		{"Lenient", Lenient, false},
		{"loose", Strict, true},
		{"", Strict, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePropagation(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParsePropagation(%q) = %v, %v", tt.in, got, err)
			}
			if err != nil && (!errors.Is(err, ErrUnknownPropagation) || !strings.Contains(err.Error(), `"`+tt.in+`"`)) {
				t.Fatalf("error %v does not wrap ErrUnknownPropagation and name the input", err)
			}
			if err == nil && got.String() != strings.ToLower(tt.in) {
				t.Fatalf("String() = %q", got.String())
			}
		})
	}
}
