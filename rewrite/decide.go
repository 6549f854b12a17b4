package rewrite

import (
	"fmt"
	"strings"
)

// Outcome is what Decide concluded: the decisions alone, without bytes.
type Outcome struct {
	// Policy is the effective policy the decisions were made under.
	Policy Policy
	// Mounts has one Decision per mount, in order, with Action, After and
	// Reason filled in.
	Mounts []Decision
	// Applied lists the destinations made rro by this call, in mount
	// order. Empty on error.
	Applied []string
	// Excluded lists the destinations of read-only recursive binds left
	// without rro because an exclusion covers them (Decision.ExcludedBy),
	// in mount order; empty under policy Disabled.
	Excluded []string

	// annotations are the values ownedAnnotations must have afterwards,
	// "" for absent.
	annotations [nOwned]string
}

// OwnedAnnotations returns the annotations only rro-runc writes, each
// mapped to true: AnnotationApplied and AnnotationExcluded.
func OwnedAnnotations() map[string]bool {
	m := make(map[string]bool, nOwned)
	for _, key := range ownedAnnotations {
		m[key] = true
	}
	return m
}

// AnnotationValues returns the values rro-runc's own annotations
// (AnnotationApplied, AnnotationExcluded) must have in the container, ""
// meaning the annotation must be absent. A caller that edits the
// container itself, such as an NRI plugin, sets each non-empty value and
// removes each empty one, whatever the container arrived with: only
// rro-runc writes these. Apply does exactly that to the bytes.
//
// The applied list is the destinations made rro now, and those of an
// applied list the config arrived with whose mount carries rro (a config
// rro-runc rewrote before, such as one being restored). An entry for a
// mount without rro is dropped, so the record never claims a mount is
// recursively read-only when it is not, whoever wrote the config.
func (o *Outcome) AnnotationValues() map[string]string {
	m := make(map[string]string, nOwned)
	for k, key := range ownedAnnotations {
		m[key] = o.annotations[k]
	}
	return m
}

// Decide decides every candidate under the effective policy and s, the
// same way for a plan from Analyze and from AnalyzeMounts: it is the
// deciding half of Apply, and produces no bytes. A rewritten mount's
// After is its Before with the added options ("rro", perhaps "rprivate")
// appended. When the policy cannot be honoured, the error wraps ErrRefused
// (ErrUnsupported or ErrPropagation) and the Outcome still carries the
// decisions, with Refused on the mounts that caused it and no Applied.
//
// The decisions are made in place: Outcome.Mounts is Plan.Mounts, not a
// copy, because copying 10,000 decisions costs a quarter of the whole
// rewrite. Decide may be called again, with other support; each call
// starts from the analysed state and overwrites the previous outcome.
func (p *Plan) Decide(s Support) (*Outcome, error) {
	for i := range p.Mounts {
		if d := &p.Mounts[i]; d.candidate {
			d.Action, d.After, d.Reason = Unchanged, d.Before, reasonCandidate
		}
	}
	o := &Outcome{Policy: p.Policy, Mounts: p.Mounts}
	reason := s.Reason
	if reason == "" && !s.Supported {
		reason = "kernel and runtime support for rro unknown"
	}
	strict := p.Policy == Enabled && p.opts.Propagation == Strict
	var unsupported, badPropagation []string
	// Sized up front. Measured: growing these by append instead costs
	// about a fifth more CPU time in BenchmarkRewrite10000.
	var after []string
	if p.Policy != Disabled && s.Supported {
		n, size := 0, 0
		for i := range p.Mounts {
			if p.Mounts[i].candidate {
				n++
				size += len(p.Mounts[i].Before) + len(addRROPrivate)
			}
		}
		if n > 0 {
			o.Applied = make([]string, 0, n)
			after = make([]string, 0, size)
		}
	}
	for i := range o.Mounts {
		d := &o.Mounts[i]
		if !d.candidate {
			continue
		}
		switch {
		case p.Policy == Disabled:
			d.Reason = "policy Disabled (from " + p.PolicyFrom + ")"
			continue
		case !s.Supported && p.Policy == Enabled:
			d.Action, d.Reason = Refused, reason
			unsupported = append(unsupported, d.where())
			continue
		case !s.Supported:
			d.Reason = reason
			continue
		}
		add, why := addRRO, "added rro"
		if strict {
			switch fix, reason := strictPropagation(d); {
			case fix == refuse:
				d.Action, d.Reason = Refused, reason
				badPropagation = append(badPropagation, d.where()+" has propagation "+d.Propagation)
				continue
			case fix == addPrivate:
				add, why = addRROPrivate, "added rro,rprivate: "+reason
			}
		}
		first := len(after)
		after = append(append(after, d.Before...), add...)
		d.After = after[first:len(after):len(after)]
		d.Action, d.Reason = Rewritten, why
		o.Applied = append(o.Applied, d.Destination)
	}
	if len(unsupported) == 0 && len(badPropagation) == 0 {
		p.record(o)
	}
	if len(unsupported) > 0 {
		o.Applied = nil
		return o, fmt.Errorf("%w: policy %s (from %s) needs rro, but %s; refusing to start with %s not recursively read-only",
			ErrUnsupported, p.Policy, p.PolicyFrom, reason, joinMounts(unsupported))
	}
	if len(badPropagation) > 0 {
		o.Applied = nil
		return o, fmt.Errorf("%w: policy %s (from %s): %s: a host mount appearing later under it would arrive writable; use rprivate, or set propagation = \"lenient\"",
			ErrPropagation, p.Policy, p.PolicyFrom, strings.Join(badPropagation, ", "))
	}
	return o, nil
}

type propagationFix int

const (
	keep       propagationFix = iota // the whole tree is private or unbindable
	addPrivate                       // append rprivate, which runc applies last
	refuse                           // the client asked for propagation in
)

// strictPropagation decides, for a candidate under Enabled with strict
// propagation, whether rro holds for the container's life. runc applies
// the propagation options in order (mountPropagate in runc 1.1's
// libcontainer/rootfs_linux.go), so the last option decides the top
// mount and the last recursive one what the copied submounts keep; with
// none, they keep runc's root propagation, rslave. Only a tree whose last
// option is rprivate or runbindable is safe: private and unbindable act
// on the top mount only and leave the submounts slaves, so a mount the
// host makes later under a submount arrives writable. Those, and no
// option at all, get rprivate appended; shared or slave that is still in
// effect is what the client asked for, so it is refused, not overridden.
func strictPropagation(d *Decision) (propagationFix, string) {
	switch last, rec := d.Propagation, d.recursivePropagation; {
	case last == "rprivate" || last == "runbindable":
		return keep, ""
	case rec == "rslave" || rec == "rshared":
		return refuse, "propagation " + rec + ": a host mount appearing later under a submount would arrive writable"
	case last == "slave" || last == "shared":
		return refuse, "propagation " + last + ": a host mount appearing later would arrive writable"
	case last == "":
		return addPrivate, "runc's default propagation is rslave"
	default: // private or unbindable, perhaps after rprivate or runbindable
		return addPrivate, last + " acts on the top mount only, its submounts keep runc's default rslave"
	}
}

// record fills o's Excluded and the values of rro-runc's annotations.
// The applied list the config arrived with is read as a multiset: each of
// its entries vouches for one mount at that destination that still
// carries rro, so that a config with two mounts at one place (or two with
// an empty destination) keeps both entries on every later run.
func (p *Plan) record(o *Outcome) {
	var vouched map[string]int
	if prev := p.owned[ownedApplied]; prev.present {
		vouched = map[string]int{}
		for _, dest := range strings.Split(prev.value, ",") {
			vouched[dest]++
		}
	}
	applied := make([]string, 0, len(o.Applied))
	for i := range o.Mounts {
		d := &o.Mounts[i]
		switch {
		case d.Action == Rewritten:
			applied = append(applied, d.Destination)
		case d.ExcludedBy != "" && p.Policy != Disabled:
			o.Excluded = append(o.Excluded, d.Destination)
		case d.bind && d.recursive == "rro" && vouched[d.Destination] > 0:
			vouched[d.Destination]--
			applied = append(applied, d.Destination)
		}
	}
	o.annotations[ownedApplied] = strings.Join(applied, ",")
	o.annotations[ownedExcluded] = strings.Join(o.Excluded, ",")
}

// ownedChanged reports whether o's annotation values differ from what the
// config carries.
func (p *Plan) ownedChanged(o *Outcome) bool {
	for k, v := range o.annotations {
		if have := p.owned[k]; have.present != (v != "") || have.value != v {
			return true
		}
	}
	return false
}
