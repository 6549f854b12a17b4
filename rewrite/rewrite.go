// Package rewrite turns the read-only recursive bind mounts of an OCI
// config.json into recursively read-only ones (the mount option "rro").
//
// It is pure: bytes and decisions in, bytes and decisions out, no I/O,
// so the wrapper, rroctl and the fuzzer all run the same code.
//
// Guarantees:
//   - Lossless: only the options arrays of rewritten mounts and the
//     org.rro-runc.applied annotation change. Every other byte stays,
//     including fields no Go struct knows, number spellings, key order,
//     whitespace and escapes.
//   - It reads config.json the way runc does (Go's encoding/json): keys
//     of spec fields match case-insensitively and the last duplicate
//     wins, so the mounts it rewrites are the mounts runc mounts.
//   - Idempotent: rewriting its own output changes nothing.
//   - Never a silent downgrade: where the policy cannot be honoured, the
//     result is an error wrapping ErrRefused, not a quieter config.
package rewrite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Annotations rro-runc reads and writes.
const (
	AnnotationPolicy  = "org.rro-runc.policy"
	AnnotationExclude = "org.rro-runc.exclude"
	AnnotationApplied = "org.rro-runc.applied"
)

// DefaultExclude are runtime interfaces, not volumes: Docker's rro broke
// `-v /dev:/dev:ro` (/dev/shm went read-only) and cgroup v1
// `/sys/fs/cgroup:ro` containers.
var DefaultExclude = []string{"/dev", "/proc", "/sys"}

// Options are the administrator's settings.
type Options struct {
	Policy                Policy
	Exclude               []string // destinations excluded with everything beneath them
	Propagation           Propagation
	AllowAnnotationOptOut bool
}

// Support says whether the kernel and runtime can do rro, and if not, why.
type Support struct {
	Supported bool
	Reason    string
}

// Action is what happens to one mount.
type Action int

const (
	Unchanged Action = iota
	Rewritten
	Refused
)

func (a Action) String() string {
	switch a {
	case Rewritten:
		return "rewrite"
	case Refused:
		return "refuse"
	}
	return "unchanged"
}

// Decision is what happens to one mounts[] entry, and why.
type Decision struct {
	Index       int
	Destination string
	Source      string
	Type        string
	Before      []string
	After       []string
	Action      Action
	Reason      string

	candidate   bool
	propagation string // the last propagation option, "" for none
	options     span   // the options value, or an empty span at the insertion point
	hasOptions  bool
}

// Candidate reports whether the mount is a read-only recursive bind that
// rro-runc would make rro when the policy and support allow.
func (d Decision) Candidate() bool { return d.candidate }

// Plan is an analysed config.json, ready to be applied.
type Plan struct {
	Policy     Policy // effective, after the container's annotation
	PolicyFrom string // "config" or "annotation org.rro-runc.policy"
	Mounts     []Decision

	config      []byte
	opts        Options
	top         span
	topMembers  []member
	annotations *member
}

// Result is the outcome of Apply.
type Result struct {
	Config  []byte // the input itself when nothing changed
	Changed bool
	Policy  Policy
	Mounts  []Decision
	Applied []string // destinations made rro
}

// Analyze reads config and decides, for every mount, whether it is a
// candidate. It needs no support information, so a caller can skip the
// probe when NeedsSupport is false.
func Analyze(config []byte, opts Options) (*Plan, error) {
	if !json.Valid(config) {
		var v any
		err := json.Unmarshal(config, &v)
		return nil, fmt.Errorf("%w: not valid JSON: %v", ErrInvalidConfig, err)
	}
	start := skipSpace(config, 0)
	if config[start] != '{' {
		return nil, fmt.Errorf("%w: the top level is not an object", ErrInvalidConfig)
	}
	p := &Plan{config: config, opts: opts, Policy: opts.Policy, PolicyFrom: "config"}
	p.top = span{start, valueEnd(config, start)}
	p.topMembers = members(config, p.top)

	annotations, err := p.readAnnotations()
	if err != nil {
		return nil, err
	}
	exclude := opts.Exclude
	if opts.Policy != Disabled {
		if exclude, err = p.applyAnnotations(annotations, exclude); err != nil {
			return nil, err
		}
	}
	if err := p.readMounts(exclude); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Plan) readAnnotations() (map[string]string, error) {
	m, ok := lastMember(p.topMembers, "annotations")
	if !ok {
		return nil, nil
	}
	p.annotations = &m
	var out map[string]string
	if err := json.Unmarshal(p.config[m.val.start:m.val.end], &out); err != nil {
		return nil, fmt.Errorf("%w: annotations is not an object of strings: %v", ErrInvalidConfig, err)
	}
	return out, nil
}

// applyAnnotations lets a container ask for more, never for less unless
// the administrator allowed it: whoever writes a pod spec must not be able
// to switch off an administrator's guarantee.
func (p *Plan) applyAnnotations(a map[string]string, exclude []string) ([]string, error) {
	if v, ok := a[AnnotationPolicy]; ok {
		want, err := ParsePolicy(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%q: %w", ErrAnnotation, AnnotationPolicy, v, err)
		}
		if want < p.Policy && !p.opts.AllowAnnotationOptOut {
			return nil, fmt.Errorf("%w: %s=%s would lower the policy from %s, and allow_annotation_opt_out is false",
				ErrAnnotation, AnnotationPolicy, want, p.Policy)
		}
		if want != p.Policy {
			p.Policy, p.PolicyFrom = want, "annotation "+AnnotationPolicy
		}
	}
	if v := strings.TrimSpace(a[AnnotationExclude]); v != "" {
		if !p.opts.AllowAnnotationOptOut {
			return nil, fmt.Errorf("%w: %s=%q would exclude mounts, and allow_annotation_opt_out is false",
				ErrAnnotation, AnnotationExclude, v)
		}
		exclude = slices.Clone(exclude)
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				exclude = append(exclude, d)
			}
		}
	}
	return exclude, nil
}

func (p *Plan) readMounts(exclude []string) error {
	m, ok := lastMember(p.topMembers, "mounts")
	if !ok || p.config[m.val.start] == 'n' { // absent or null: nothing to do
		return nil
	}
	if p.config[m.val.start] != '[' {
		return fmt.Errorf("%w: mounts is not an array", ErrInvalidConfig)
	}
	for i, el := range elements(p.config, m.val) {
		d, err := p.readMount(i, el, exclude)
		if err != nil {
			return err
		}
		p.Mounts = append(p.Mounts, d)
	}
	return nil
}

func (p *Plan) readMount(i int, el span, exclude []string) (Decision, error) {
	d := Decision{Index: i}
	switch p.config[el.start] {
	case 'n':
		d.Reason = "null entry"
		return d, nil
	case '{':
	default:
		return d, fmt.Errorf("%w: mounts[%d] is not an object", ErrInvalidConfig, i)
	}
	ms := members(p.config, el)
	for _, f := range []struct {
		name string
		dst  *string
	}{{"destination", &d.Destination}, {"source", &d.Source}, {"type", &d.Type}} {
		if m, ok := lastMember(ms, f.name); ok {
			if err := json.Unmarshal(p.config[m.val.start:m.val.end], f.dst); err != nil {
				return d, fmt.Errorf("%w: mounts[%d].%s is not a string", ErrInvalidConfig, i, f.name)
			}
		}
	}
	if m, ok := lastMember(ms, "options"); ok {
		d.options, d.hasOptions = m.val, true
		if err := json.Unmarshal(p.config[m.val.start:m.val.end], &d.Before); err != nil {
			return d, fmt.Errorf("%w: mounts[%d] (%s): options is not an array of strings", ErrInvalidConfig, i, d.Destination)
		}
	} else {
		// No options member: the new one goes just before the closing brace.
		d.options = span{el.end - 1, el.end - 1}
	}
	d.After = d.Before
	d.classify(exclude)
	return d, nil
}

// propagations are the options that set a mount's propagation; the last
// one given wins, as in runc.
var propagations = []string{"private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"}

func (d *Decision) classify(exclude []string) {
	var bind, recursive, readOnly, decided bool
	for _, o := range d.Before {
		switch o {
		case "bind":
			bind = true
		case "rbind":
			bind, recursive = true, true // runc ORs the flags: a later "bind" keeps MS_REC
		case "ro":
			readOnly = true
		case "rw":
			readOnly = false
		case "rro", "rrw":
			decided = true
		}
		if slices.Contains(propagations, o) {
			d.propagation = o
		}
	}
	switch {
	case !bind:
		d.Reason = "not a bind mount"
	case !readOnly:
		d.Reason = "read-write"
	case decided:
		d.Reason = "recursive mode already set (rro or rrw)"
	case !recursive:
		d.Reason = "non-recursive bind: no submounts are copied in"
	default:
		if by := excludedBy(d.Destination, exclude); by != "" {
			d.Reason = "excluded (" + by + ")"
			return
		}
		d.candidate = true
		d.Reason = "read-only recursive bind"
	}
}

// excludedBy returns the exclude entry covering dest, or "".
func excludedBy(dest string, exclude []string) string {
	dest = path.Clean("/" + dest)
	for _, e := range exclude {
		e = path.Clean("/" + e)
		if dest == e || e == "/" || strings.HasPrefix(dest, e+"/") {
			return e
		}
	}
	return ""
}

// NeedsSupport reports whether Apply's outcome depends on Support, so
// the caller probes only when there is something to rewrite.
func (p *Plan) NeedsSupport() bool {
	if p.Policy == Disabled {
		return false
	}
	return slices.ContainsFunc(p.Mounts, func(d Decision) bool { return d.candidate })
}

// Apply decides every candidate under the effective policy and support,
// and builds the new config.json.
func (p *Plan) Apply(s Support) (*Result, error) {
	res := &Result{Config: p.config, Policy: p.Policy, Mounts: slices.Clone(p.Mounts)}
	var edits []edit
	var refusals []string
	for i := range res.Mounts {
		d := &res.Mounts[i]
		if !d.candidate {
			continue
		}
		switch {
		case p.Policy == Disabled:
			d.Reason = "policy Disabled"
			continue
		case !s.Supported && p.Policy == Enabled:
			d.Action, d.Reason = Refused, s.Reason
			refusals = append(refusals, d.where())
			continue
		case !s.Supported:
			d.Reason = "not supported, left read-only at the top only: " + s.Reason
			continue
		}
		add := []string{"rro"}
		strict := p.Policy == Enabled && p.opts.Propagation == Strict
		switch d.propagation {
		case "private", "rprivate", "unbindable", "runbindable":
		case "":
			if strict {
				// runc's default is rslave: a host mount appearing later
				// would propagate in writable.
				add = append(add, "rprivate")
			}
		default:
			if strict {
				d.Action = Refused
				d.Reason = fmt.Sprintf("propagation %s: a host mount appearing later under %s would arrive writable", d.propagation, d.Source)
				return res, fmt.Errorf("%w: policy %s: mount %s has propagation %s: a host mount appearing later would arrive writable; use rprivate, or set propagation = \"lenient\"",
					ErrPropagation, p.Policy, d.where(), d.propagation)
			}
		}
		d.After = append(slices.Clone(d.Before), add...)
		d.Action, d.Reason = Rewritten, "made recursively read-only ("+strings.Join(add, ", ")+" added)"
		res.Applied = append(res.Applied, d.Destination)
		edits = append(edits, d.optionsEdit(p.config))
	}
	if len(refusals) > 0 {
		return res, fmt.Errorf("%w: policy %s (from %s): %s; refusing to start with %s not recursively read-only",
			ErrUnsupported, p.Policy, p.PolicyFrom, s.Reason, strings.Join(refusals, ", "))
	}
	if len(edits) == 0 {
		return res, nil
	}
	edits = append(edits, p.annotationEdit(strings.Join(res.Applied, ",")))
	slices.SortStableFunc(edits, func(a, b edit) int { return a.at.start - b.at.start })
	res.Config, res.Changed = splice(p.config, edits), true
	return res, nil
}

func (d *Decision) where() string {
	return fmt.Sprintf("%s (mounts[%d])", d.Destination, d.Index)
}

// edit replaces the bytes of at with text.
type edit struct {
	at   span
	text []byte
}

func (d *Decision) optionsEdit(config []byte) edit {
	list := marshalStrings(d.After)
	if d.hasOptions {
		return edit{d.options, list}
	}
	sep := ","
	if i := skipSpaceBack(config, d.options.start); config[i] == '{' {
		sep = ""
	}
	return edit{d.options, append([]byte(sep+`"options":`), list...)}
}

func (p *Plan) annotationEdit(applied string) edit {
	value := marshalString(applied)
	entry := append(marshalString(AnnotationApplied), ':')
	entry = append(entry, value...)
	if a := p.annotations; a != nil {
		if p.config[a.val.start] == 'n' { // "annotations": null
			return edit{a.val, append(append([]byte{'{'}, entry...), '}')}
		}
		ms := members(p.config, a.val)
		if m, ok := lastExact(ms, AnnotationApplied); ok {
			return edit{m.val, value}
		}
		at := span{a.val.start + 1, a.val.start + 1}
		if len(ms) > 0 {
			entry = append(entry, ',')
		}
		return edit{at, entry}
	}
	obj := append([]byte(`"annotations":{`), entry...)
	obj = append(obj, '}')
	if len(p.topMembers) == 0 {
		at := p.top.start + 1
		return edit{span{at, at}, obj}
	}
	at := p.topMembers[len(p.topMembers)-1].val.end
	return edit{span{at, at}, append([]byte{','}, obj...)}
}

func splice(config []byte, edits []edit) []byte {
	n := len(config)
	for _, e := range edits {
		n += len(e.text) - (e.at.end - e.at.start)
	}
	out := make([]byte, 0, n)
	pos := 0
	for _, e := range edits {
		out = append(out, config[pos:e.at.start]...)
		out = append(out, e.text...)
		pos = e.at.end
	}
	return append(out, config[pos:]...)
}

func skipSpaceBack(b []byte, i int) int {
	for i--; i > 0 && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'); i-- {
	}
	return i
}

func marshalStrings(list []string) []byte {
	out := []byte{'['}
	for i, s := range list {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, marshalString(s)...)
	}
	return append(out, ']')
}

// marshalString writes a JSON string without HTML escaping, so that an
// option like "a<b" keeps its spelling.
func marshalString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(buf.Bytes(), "\n")
}
