package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/nri/pkg/api"

	"github.com/rro-runc/rro-runc/rewrite"
)

// adjustment is what the plugin answers for one container: the NRI
// adjustment (nil when nothing changes) and the destinations made rro.
type adjustment struct {
	Adjust  *api.ContainerAdjustment
	Applied []string
	Plan    *rewrite.Plan
	// Skipped says why a mount rewrite would have made rro was left
	// plain under IfPossible; the caller logs it.
	Skipped []string
}

// decide applies the wrapper's decision to a container's mounts. It is the
// one implementation: rewrite.AnalyzeMounts and Plan.Decide apply the
// rules Analyze and Apply apply to the wrapper's config.json (rewrite's
// own tests hold the two to the same decisions), and each mount rewrite
// rewrote becomes RemoveMount + AddMount with rewrite's options.
//
// Annotations are the pod's, overridden by the container's own: the pod is
// where a Kubernetes user writes them, and containerd passes pod
// annotations into a container's config only for handlers that list them
// in pod_annotations. The opt-out rule (lowering the policy or excluding
// mounts needs allow_annotation_opt_out) is rewrite's, unchanged.
//
// support is called only when the outcome depends on it (a candidate
// under a policy other than Disabled), so that containers without
// read-only volumes never wait for a probe. A non-nil error means the
// container must not be created; its text is what the CRI caller sees.
func decide(opts rewrite.Options, support func() rewrite.Support, pod *api.PodSandbox, ctr *api.Container) (*adjustment, error) {
	// The pod's annotations, then the container's on top; rro-runc's own
	// record (org.rro-runc.applied, .excluded) only from the container,
	// whose spec is what carries it: the same record the wrapper reads
	// from config.json.
	annotations := map[string]string{}
	maps.Copy(annotations, pod.GetAnnotations())
	for _, key := range owned {
		delete(annotations, key)
	}
	maps.Copy(annotations, ctr.GetAnnotations())
	mounts := make([]rewrite.Mount, 0, len(ctr.GetMounts()))
	for _, m := range ctr.GetMounts() {
		mounts = append(mounts, rewrite.Mount{Destination: m.Destination, Type: m.Type, Source: m.Source, Options: m.Options})
	}
	plan, err := rewrite.AnalyzeMounts(mounts, annotations, opts)
	if err != nil {
		return nil, err
	}
	var s rewrite.Support
	if plan.NeedsSupport() {
		s = support()
	}
	res, err := plan.Decide(s)
	if err != nil {
		return &adjustment{Plan: plan}, err
	}
	out := &adjustment{Plan: plan}
	adj := &api.ContainerAdjustment{}
	changed := false
	// NRI keys mounts by destination: RemoveMount drops every mount there
	// and AddMount puts one back. Two mounts at one destination (the
	// later hides the earlier) cannot be adjusted one at a time.
	seen := map[string]int{}
	for _, m := range mounts {
		seen[m.Destination]++
	}
	skipped := map[string]bool{}
	for _, d := range res.Mounts {
		if d.Action != rewrite.Rewritten {
			continue
		}
		if n := seen[d.Destination]; n > 1 {
			why := fmt.Sprintf("%d mounts share the destination %s, and NRI can only replace all of them at once", n, d.Destination)
			if res.Policy == rewrite.Enabled {
				return out, fmt.Errorf("%w: policy %s (from %s): %s; refusing rather than dropping one",
					rewrite.ErrRefused, res.Policy, plan.PolicyFrom, why)
			}
			if !skipped[d.Destination] {
				skipped[d.Destination] = true
				out.Skipped = append(out.Skipped, why+": left as it was (policy IfPossible)")
			}
			continue
		}
		m := ctr.GetMounts()[d.Index]
		adj.RemoveMount(m.Destination)
		adj.AddMount(&api.Mount{
			Destination: m.Destination,
			Type:        m.Type,
			Source:      m.Source,
			Options:     append([]string(nil), d.After...),
		})
		out.Applied = append(out.Applied, d.Destination)
		changed = true
	}
	// rewrite says what its annotations must be; only rro-runc writes
	// them, so whatever the container arrived with is replaced or removed.
	have := ctr.GetAnnotations()
	for key, want := range res.AnnotationValues() {
		if key == rewrite.AnnotationApplied && len(skipped) > 0 {
			want = strings.Join(slices.DeleteFunc(strings.Split(want, ","), func(d string) bool { return skipped[d] }), ",")
		}
		cur, present := have[key]
		switch {
		case want != "" && (!present || cur != want):
			adj.AddAnnotation(key, want)
			changed = true
		case want == "" && present:
			adj.RemoveAnnotation(key)
			changed = true
		}
	}
	if changed {
		out.Adjust = adj
	}
	return out, nil
}

// owned are the annotations only rro-runc writes.
var owned = []string{rewrite.AnnotationApplied, rewrite.AnnotationExcluded}
