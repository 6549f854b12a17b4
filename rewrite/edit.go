package rewrite

import (
	"fmt"
	"slices"

	"github.com/rro-runc/rro-runc/internal/jsonedit"
)

// Apply decides every candidate under the effective policy and s (see
// Decide), and builds the new config.json: the options each rewritten
// mount gained, appended to its options array, and rro-runc's own
// annotations set to Outcome.AnnotationValues. On error the Result still
// carries the decisions, with Refused on the mounts that caused it, and
// the input config unchanged. When nothing changes, Result.Config is the
// input slice itself.
func (p *Plan) Apply(s Support) (*Result, error) {
	if p.config == nil {
		return nil, fmt.Errorf("%w: Apply needs config.json bytes; a plan made by AnalyzeMounts has only decisions (use Decide)", ErrInvalidConfig)
	}
	o, err := p.Decide(s)
	res := &Result{Outcome: *o, Config: p.config}
	if err != nil || len(o.Applied) == 0 && !p.ownedChanged(o) {
		return res, err
	}
	res.Config, res.Changed = p.build(o), true
	return res, nil
}

// build is the building half of Apply: the config with o's decisions
// made into edits and spliced in, every other byte as it was.
func (p *Plan) build(o *Outcome) []byte {
	edits := make([]jsonedit.Edit, 0, len(o.Applied)+2)
	for i := range o.Mounts {
		if d := &o.Mounts[i]; d.Action == Rewritten {
			edits = append(edits, jsonedit.Insert(d.insertAt, appendedText(d.After[len(d.Before):])))
		}
	}
	edits = p.annotationEdits(o, edits)
	slices.SortFunc(edits, func(a, b jsonedit.Edit) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return a.End - b.End // an insertion before a removal starting there
	})
	return jsonedit.Splice(p.config, edits...)
}

// What Decide appends, as options and as the bytes inserted after the
// last existing option. Shared and never written to: After is a fresh copy.
var (
	addRRO        = []string{"rro"}
	addRROPrivate = []string{"rro", "rprivate"}
	insRRO        = []byte(`,"rro"`)
	insRROPrivate = []byte(`,"rro","rprivate"`)
)

// appendedText is the JSON text that appends options after the last
// existing element of an options array.
func appendedText(add []string) []byte {
	if slices.Equal(add, addRRO) {
		return insRRO
	}
	return insRROPrivate
}

// annotationEdits appends to edits what makes rro-runc's annotations, in
// the map runc decodes, exactly o's values. encoding/json merges every
// "annotations" object after the last null into one map, the last
// duplicate key winning: so a key rro-runc sets is written into the last
// of those objects (replacing its last occurrence there, or appended),
// and every other occurrence of an owned key in any of them is removed.
// After a final null, which empties the map, a new "annotations" member
// is added at the end of the top-level object: turning the null into an
// object would bring back what it erased.
func (p *Plan) annotationEdits(o *Outcome, edits []jsonedit.Edit) []jsonedit.Edit {
	var entries []byte // the owned keys to append, as object members
	placed := [nOwned]bool{}
	if n := len(p.annotations); n > 0 {
		for i, obj := range p.annotations {
			ms := members(p.config, obj, nil)
			drop := make([]bool, len(ms))
			for j := len(ms) - 1; j >= 0; j-- {
				k := ownedKey(ms[j])
				if k < 0 {
					continue
				}
				if i == n-1 && o.annotations[k] != "" && !placed[k] {
					placed[k] = true
					edits = append(edits, jsonedit.Edit{Start: ms[j].val.start, End: ms[j].val.end, Text: jsonedit.Quote(o.annotations[k])})
					continue
				}
				drop[j] = true
			}
			edits = removeMembers(ms, drop, edits)
			if i < n-1 {
				continue
			}
			// The last object: append what was not replaced, after the
			// last member kept, or first when none is.
			kept := len(ms) - 1
			for kept >= 0 && drop[kept] {
				kept--
			}
			for k, v := range o.annotations {
				if v != "" && !placed[k] {
					if kept >= 0 || len(entries) > 0 {
						entries = append(entries, ',')
					}
					entries = appendMember(entries, ownedAnnotations[k], v)
				}
			}
			if len(entries) > 0 {
				at := obj.start + 1
				if kept >= 0 {
					at = ms[kept].val.end
				}
				edits = append(edits, jsonedit.Insert(at, entries))
			}
		}
		return edits
	}
	for k, v := range o.annotations {
		if v != "" {
			if len(entries) > 0 {
				entries = append(entries, ',')
			}
			entries = appendMember(entries, ownedAnnotations[k], v)
		}
	}
	if len(entries) == 0 {
		return edits
	}
	// No annotations reach the map (none, or the last is null): a new
	// member after the last one. An object with mounts is never empty.
	obj := append([]byte(`,"annotations":{`), entries...)
	return append(edits, jsonedit.Insert(p.lastTop, append(obj, '}')))
}

// ownedKey returns which of ownedAnnotations m's key is, or -1. Map keys
// match exactly, as encoding/json matches them.
func ownedKey(m member) int {
	for k, key := range ownedAnnotations {
		if m.isExact(key) {
			return k
		}
	}
	return -1
}

func appendMember(b []byte, key, value string) []byte {
	b = append(b, jsonedit.Quote(key)...)
	return append(append(b, ':'), jsonedit.Quote(value)...)
}

// removeMembers appends the edits that delete the members of one object
// marked in drop, with the commas that separated them: a member followed
// by a kept one goes with everything up to that one's key; a run of
// dropped members at the end goes with everything from the end of the
// last kept member.
func removeMembers(ms []member, drop []bool, edits []jsonedit.Edit) []jsonedit.Edit {
	tail := len(ms)
	for tail > 0 && drop[tail-1] {
		tail--
	}
	for j := 0; j < tail; j++ {
		if drop[j] {
			edits = append(edits, jsonedit.Edit{Start: ms[j].keyAt, End: ms[j+1].keyAt})
		}
	}
	if tail < len(ms) {
		start := ms[0].keyAt
		if tail > 0 {
			start = ms[tail-1].val.end
		}
		edits = append(edits, jsonedit.Edit{Start: start, End: ms[len(ms)-1].val.end})
	}
	return edits
}
