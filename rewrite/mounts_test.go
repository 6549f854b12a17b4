package rewrite

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// checkSameDecisions checks that AnalyzeMounts on what encoding/json
// decodes from cfg decides exactly what Analyze and Apply decide on the
// bytes: the NRI plugin and the wrapper must not disagree.
func checkSameDecisions(t testing.TB, cfg []byte, opts Options, s Support) {
	t.Helper()
	var spec specs.Spec
	if json.Unmarshal(cfg, &spec) != nil {
		return
	}
	bp, berr := Analyze(cfg, opts)
	if errors.Is(berr, ErrInvalidConfig) {
		return // a shape only the bytes show (e.g. two mounts arrays)
	}
	mounts := make([]Mount, len(spec.Mounts))
	for i, m := range spec.Mounts {
		mounts[i] = Mount{Destination: m.Destination, Type: m.Type, Source: m.Source, Options: m.Options}
	}
	mp, merr := AnalyzeMounts(mounts, spec.Annotations, opts)
	if (berr == nil) != (merr == nil) || berr != nil && berr.Error() != merr.Error() {
		t.Fatalf("Analyze: %v, AnalyzeMounts: %v\nconfig: %s", berr, merr, cfg)
	}
	if berr != nil {
		return
	}
	if bp.Policy != mp.Policy || bp.PolicyFrom != mp.PolicyFrom || bp.NeedsSupport() != mp.NeedsSupport() || !slices.Equal(bp.Exclude, mp.Exclude) {
		t.Fatalf("plans differ: bytes %v/%s/%v, mounts %v/%s/%v", bp.Policy, bp.PolicyFrom, bp.NeedsSupport(), mp.Policy, mp.PolicyFrom, mp.NeedsSupport())
	}
	res, berr := bp.Apply(s)
	out, merr := mp.Decide(s)
	if (berr == nil) != (merr == nil) || berr != nil && berr.Error() != merr.Error() {
		t.Fatalf("Apply: %v, Decide: %v\nconfig: %s", berr, merr, cfg)
	}
	if out.Policy != res.Policy || !slices.Equal(out.Applied, res.Applied) || len(out.Mounts) != len(res.Mounts) {
		t.Fatalf("outcomes differ: Applied %q vs %q", res.Applied, out.Applied)
	}
	for i, b := range res.Mounts {
		m := out.Mounts[i]
		if b.Reason == "null entry" {
			b.Reason = m.Reason // encoding/json gives AnalyzeMounts a zero Mount
		}
		if b.Action != m.Action || b.Reason != m.Reason || b.Candidate() != m.Candidate() ||
			!slices.Equal(b.Before, m.Before) || !slices.Equal(b.After, m.After) || b.Propagation != m.Propagation {
			t.Fatalf("mounts[%d]: bytes %v %q %q, mounts %v %q %q", i, b.Action, b.After, b.Reason, m.Action, m.After, m.Reason)
		}
	}
}

func TestAnalyzeMountsDecidesLikeAnalyze(t *testing.T) {
	supports := []Support{supported, {Reason: "no kernel"}}
	optsList := []Options{
		{Policy: IfPossible, Exclude: DefaultExclude},
		{Policy: Enabled, Exclude: DefaultExclude},
		{Policy: Enabled, Propagation: Lenient},
		{Policy: Disabled, Exclude: []string{"/data"}},
		{Policy: IfPossible, AllowAnnotationOptOut: true},
	}
	var cfgs [][]byte
	for _, f := range configFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, b)
	}
	cfgs = append(cfgs,
		config(`{"org.rro-runc.policy":"Enabled"}`, mount("/v", "rbind", "ro"), mount("/w", "rbind", "ro", "rshared")),
		config(`{"org.rro-runc.exclude":"/v"}`, mount("/v", "rbind", "ro")),
		config(`{"org.rro-runc.policy":"bogus"}`, mount("/v", "rbind", "ro")),
	)
	for _, cfg := range cfgs {
		for _, opts := range optsList {
			for _, s := range supports {
				checkSameDecisions(t, cfg, opts, s)
			}
		}
	}
}

func TestAnalyzeMountsHasNoBytes(t *testing.T) {
	p, err := AnalyzeMounts([]Mount{{Destination: "/v", Options: []string{"rbind", "ro"}}}, nil, Options{Policy: Enabled})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(supported); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Apply on a mounts plan: %v, want ErrInvalidConfig", err)
	}
	out, err := p.Decide(supported)
	if err != nil || !slices.Equal(out.Mounts[0].After, []string{"rbind", "ro", "rro", "rprivate"}) || !slices.Equal(out.Applied, []string{"/v"}) {
		t.Fatalf("Decide: %v %q %q", err, out.Mounts[0].After, out.Applied)
	}
	if _, err := p.Decide(Support{Reason: "old kernel"}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Decide without support under Enabled: %v, want ErrUnsupported", err)
	}
}
