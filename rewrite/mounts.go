package rewrite

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// AnalyzeMounts is Analyze for a caller that already holds the decoded
// mounts and annotations, such as an NRI plugin adjusting a container
// before the runtime sees it. It applies exactly the rules Analyze does
// (the container's org.rro-runc.policy and org.rro-runc.exclude
// annotations, exclusions, the candidate rule), so the plugin and the
// wrapper cannot disagree. Call Plan.Decide for the per-mount outcome;
// Plan.Apply needs config.json bytes and fails on such a plan.
//
// mounts and annotations are read, never modified; each Decision's Before
// is the mount's Options slice itself.
func AnalyzeMounts(mounts []specs.Mount, annotations map[string]string, opts Options) (*Plan, error) {
	p := &Plan{opts: opts, Policy: opts.Policy, PolicyFrom: "config", Exclude: opts.Exclude}
	if opts.Policy != Disabled {
		if err := p.applyAnnotations(annotations); err != nil {
			return nil, err
		}
	}
	if len(mounts) == 0 {
		return p, nil
	}
	p.Mounts = make([]Decision, len(mounts))
	p.cleanExclude()
	for i, m := range mounts {
		d := &p.Mounts[i]
		d.Index, d.Destination, d.Source, d.Type = i, m.Destination, m.Source, m.Type
		d.Before, d.After, d.insertAt = m.Options, m.Options, -1
		d.classify(p.excludeClean)
	}
	return p, nil
}
