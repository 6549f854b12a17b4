package rewrite

// Mount is the part of an OCI mount (runtime-spec's specs.Mount) the
// decision reads. rewrite declares its own rather than importing
// runtime-spec: that package's init formats its version string with
// fmt.Sprintf, which every rro-runc call, pass-through included, would pay
// for in page faults (5 of the 31 rro-runc added over the Go exec-only
// floor, measured with perf record -e page-faults).
type Mount struct {
	Destination string
	Type        string
	Source      string
	Options     []string
}

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
func AnalyzeMounts(mounts []Mount, annotations map[string]string, opts Options) (*Plan, error) {
	p := &Plan{opts: opts, Policy: opts.Policy, PolicyFrom: "config", Exclude: opts.Exclude}
	p.readOwned(annotations)
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
