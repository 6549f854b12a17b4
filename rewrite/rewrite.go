// Package rewrite turns the read-only recursive bind mounts of an OCI
// config.json into recursively read-only ones (the mount option "rro").
//
// It is pure: bytes and decisions in, bytes and decisions out, no I/O, so
// the wrapper, rroctl and the fuzzer all run the same code. Analyze reads
// a config and classifies its mounts; Plan.Apply takes what the caller
// learnt about kernel and runtime support and produces the new bytes.
//
// Guarantees:
//   - Lossless: only the options arrays of rewritten mounts and the
//     org.rro-runc.applied annotation change. Options are appended after
//     the last existing element, the annotation after the last existing
//     member; every other byte stays, including fields no Go struct knows
//     (seccomp errnoRet in old structs), number spellings up to and past
//     2^64-1, key order, whitespace and escapes.
//   - It reads config.json the way runc does (Go's encoding/json into
//     specs.Spec): keys of struct fields match case-insensitively with
//     Unicode folding, the last duplicate key wins, null leaves a string
//     field as it was, and duplicate "annotations" objects merge. Where
//     encoding/json's result depends on slice reuse (a second non-empty
//     "mounts" array merging into the first element by element) or is
//     garbage (a null mount option, which runc reads as ""), the config
//     is refused with ErrInvalidConfig instead of guessed at.
//   - The type field is ignored, as runc ignores it for binds: a mount is
//     a bind when its options say bind or rbind.
//   - Idempotent: rewriting its own output changes nothing, because
//     rewritten mounts carry rro.
//   - Never a silent downgrade: where the effective policy cannot be
//     honoured the result is an error wrapping ErrRefused, never a config
//     that is quietly weaker than asked.
package rewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Annotations rro-runc reads and writes.
const (
	// AnnotationPolicy lets a container raise the policy; lowering it
	// needs Options.AllowAnnotationOptOut.
	AnnotationPolicy = "org.rro-runc.policy"
	// AnnotationExclude is a comma-separated list of destinations to
	// leave alone; it needs Options.AllowAnnotationOptOut.
	AnnotationExclude = "org.rro-runc.exclude"
	// AnnotationApplied is written after a rewrite: the comma-separated
	// destinations made rro, so that the result is visible in `runc state`
	// and engine inspect output.
	AnnotationApplied = "org.rro-runc.applied"
)

// DefaultExclude are runtime interfaces, not volumes: Docker's rro broke
// `-v /dev:/dev:ro` (/dev/shm went read-only) and cgroup v1
// `/sys/fs/cgroup:ro` containers.
var DefaultExclude = []string{"/dev", "/proc", "/sys"}

// Options are the administrator's settings.
type Options struct {
	// Policy from the admin config (flag > env > file > default).
	Policy Policy
	// Exclude lists container destinations never rewritten. Each excludes
	// itself and everything beneath it, compared by path component on
	// cleaned paths: "/dev" excludes "/dev/shm" but not "/device". Empty
	// entries are ignored; "/" excludes everything.
	Exclude               []string
	Propagation           Propagation
	AllowAnnotationOptOut bool
}

// Support says whether the kernel and runtime can do rro, and if not, why.
// The caller fills it from the probe; Reason names what was missing.
type Support struct {
	Supported bool
	Reason    string
}

// Action is what happens to one mount.
type Action int

const (
	// Unchanged: the mount is written back exactly as it was.
	Unchanged Action = iota
	// Rewritten: rro (and perhaps rprivate) was appended to its options.
	Rewritten
	// Refused: the mount is why the container must not start.
	Refused
)

func (a Action) String() string {
	switch a {
	case Unchanged:
		return "unchanged"
	case Rewritten:
		return "rewrite"
	case Refused:
		return "refuse"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// MarshalText makes an Action read as its name in rroctl's JSON output.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Decision is what happens to one mounts[] entry, and why.
type Decision struct {
	Index       int      `json:"index"`
	Destination string   `json:"destination"`
	Source      string   `json:"source,omitempty"`
	Type        string   `json:"type,omitempty"`
	Before      []string `json:"before"`
	After       []string `json:"after"`
	Action      Action   `json:"action"`
	Reason      string   `json:"reason"`
	// Propagation is the last propagation option given, "" when none is
	// (runc then uses its default, rslave).
	Propagation string `json:"propagation,omitempty"`

	candidate bool
	// insertAt is where appended options go: just after the last element
	// of the options array, so that the existing elements keep their bytes.
	insertAt int
}

// Candidate reports whether the mount is a read-only recursive bind, not
// excluded and not yet rro or rrw: one that rro-runc makes rro when the
// policy and support allow.
func (d Decision) Candidate() bool { return d.candidate }

// Plan is an analysed config.json, ready to be applied.
type Plan struct {
	// Policy is the effective policy, after the container's annotation.
	Policy Policy
	// PolicyFrom says where Policy came from: "config" or
	// "annotation org.rro-runc.policy".
	PolicyFrom string
	// Exclude is the effective exclusion list: Options.Exclude plus the
	// container's org.rro-runc.exclude annotation.
	Exclude []string
	// Mounts has one Decision per mounts[] entry, in order. Its Actions
	// are preliminary (all Unchanged) until Apply.
	Mounts []Decision

	config []byte
	opts   Options
	top    span
	// lastTop is the end of the last top-level member's value, where a
	// new "annotations" member goes.
	lastTop int
	// annotations is the value of the last "annotations" member, the one
	// whose keys win in runc's merged map; nil when there is none.
	annotations *span
}

// Result is the outcome of Apply.
type Result struct {
	// Config is the new config.json, or the input slice itself when
	// nothing changed.
	Config  []byte
	Changed bool
	Policy  Policy
	Mounts  []Decision
	// Applied lists the destinations made rro, in mounts[] order.
	Applied []string
}

// Analyze reads config and decides, for every mount, whether it is a
// candidate. It needs no support information, so a caller can skip the
// probe when NeedsSupport is false.
func Analyze(config []byte, opts Options) (*Plan, error) {
	if !json.Valid(config) {
		// Unmarshal validates before it decodes, so this costs a second
		// scan, not a decode, and yields the offset of the first error.
		err := json.Unmarshal(config, new(struct{}))
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: not valid JSON at byte %d: %v", ErrInvalidConfig, se.Offset, err)
		}
		return nil, fmt.Errorf("%w: not valid JSON: %v", ErrInvalidConfig, err)
	}
	start := skipSpace(config, 0)
	if config[start] != '{' {
		return nil, fmt.Errorf("%w: the top level is %s, not an object", ErrInvalidConfig, kind(config[start]))
	}
	p := &Plan{config: config, opts: opts, Policy: opts.Policy, PolicyFrom: "config"}
	p.top = span{start, valueEnd(config, start)}
	top := members(config, p.top, nil)
	if len(top) > 0 {
		p.lastTop = top[len(top)-1].val.end
	}

	annotations, err := p.readAnnotations(top)
	if err != nil {
		return nil, err
	}
	p.Exclude = opts.Exclude
	if opts.Policy != Disabled {
		// The admin's off switch also switches off the container's say.
		if err := p.applyAnnotations(annotations); err != nil {
			return nil, err
		}
	}
	if err := p.readMounts(top); err != nil {
		return nil, err
	}
	return p, nil
}

func kind(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '{':
		return "an object"
	}
	return "a number"
}

// readAnnotations merges every "annotations" member in order, as
// encoding/json does when it decodes duplicates into one map (null resets
// it), so that rro-runc sees the annotations runc sees.
func (p *Plan) readAnnotations(top []member) (map[string]string, error) {
	var out map[string]string
	for _, m := range top {
		if !m.is("annotations") {
			continue
		}
		raw := p.config[m.val.start:m.val.end]
		if c := raw[0]; c != '{' && c != 'n' {
			return nil, fmt.Errorf("%w: annotations is %s, not an object of strings", ErrInvalidConfig, kind(c))
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("%w: annotations is not an object of strings: %v", ErrInvalidConfig, err)
		}
		v := m.val
		p.annotations = &v
	}
	return out, nil
}

// applyAnnotations lets a container ask for more, never for less unless
// the administrator allowed it: whoever writes a pod spec must not be able
// to switch off an administrator's guarantee.
func (p *Plan) applyAnnotations(a map[string]string) error {
	if v, ok := a[AnnotationPolicy]; ok {
		want, err := ParsePolicy(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%w: %s=%q: %w", ErrAnnotation, AnnotationPolicy, v, err)
		}
		if want < p.Policy && !p.opts.AllowAnnotationOptOut {
			return fmt.Errorf("%w: %s=%s would lower the policy from %s, but allow_annotation_opt_out is false",
				ErrAnnotation, AnnotationPolicy, want, p.Policy)
		}
		if want != p.Policy {
			p.Policy, p.PolicyFrom = want, "annotation "+AnnotationPolicy
		}
	}
	v, ok := a[AnnotationExclude]
	if !ok {
		return nil
	}
	var extra []string
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d != "" {
			extra = append(extra, d)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	// Refused even when it matches no mount today: an opt-out that works
	// only until a matching volume is added would fail far from its cause.
	if !p.opts.AllowAnnotationOptOut {
		return fmt.Errorf("%w: %s=%s would exclude mounts, but allow_annotation_opt_out is false",
			ErrAnnotation, AnnotationExclude, strings.Join(extra, ","))
	}
	p.Exclude = append(slices.Clip(p.Exclude), extra...)
	return nil
}

func (p *Plan) readMounts(top []member) error {
	// Only the last "mounts" member counts, but encoding/json decodes
	// every one into the same slice, reusing its elements: a second array
	// would inherit fields from the first. After null or [] the slice is
	// fresh, so only those may come before the last.
	var last *member
	for i := range top {
		m := &top[i]
		if !m.is("mounts") {
			continue
		}
		switch c := p.config[m.val.start]; c {
		case '[', 'n':
		default:
			return fmt.Errorf("%w: mounts is %s, not an array", ErrInvalidConfig, kind(c))
		}
		if last != nil && p.config[last.val.start] == '[' && len(elements(p.config, last.val, nil)) > 0 {
			return fmt.Errorf("%w: mounts appears more than once (as %s and %s): runc would merge the arrays element by element, so which options it uses cannot be told",
				ErrInvalidConfig, last.key, m.key)
		}
		last = m
	}
	if last == nil || p.config[last.val.start] == 'n' {
		return nil
	}
	els := elements(p.config, last.val, nil)
	p.Mounts = make([]Decision, len(els))
	var scratch []member
	for i, el := range els {
		var err error
		scratch, err = p.readMount(&p.Mounts[i], i, el, scratch[:0])
		if err != nil {
			p.Mounts = nil
			return err
		}
	}
	return nil
}

// readMount fills d from mounts[i]. scratch is reused between mounts so
// that a config of many mounts does not allocate a member list for each.
func (p *Plan) readMount(d *Decision, i int, el span, scratch []member) ([]member, error) {
	d.Index = i
	switch c := p.config[el.start]; c {
	case '{':
	case 'n':
		// encoding/json leaves a null element as a zero Mount; runc then
		// fails on its empty destination, which is not for rro-runc to say.
		d.Reason = "null entry"
		return scratch, nil
	default:
		return scratch, fmt.Errorf("%w: mounts[%d] is %s, not an object", ErrInvalidConfig, i, kind(c))
	}
	ms := members(p.config, el, scratch)
	var optionsAt *member
	for j := range ms {
		m := &ms[j]
		var dst *string
		var name string
		switch {
		case m.is("destination"):
			dst, name = &d.Destination, "destination"
		case m.is("source"):
			dst, name = &d.Source, "source"
		case m.is("type"):
			dst, name = &d.Type, "type"
		case m.is("options"):
			optionsAt = m
			continue
		default:
			continue
		}
		// Every duplicate is decoded in order, and null keeps the value
		// before it, as encoding/json does.
		switch p.config[m.val.start] {
		case '"':
			*dst = decodeString(p.config[m.val.start:m.val.end])
		case 'n':
		default:
			return ms, fmt.Errorf("%w: mounts[%d]%s: %s is %s, not a string",
				ErrInvalidConfig, i, at(d.Destination), name, kind(p.config[m.val.start]))
		}
	}
	// Options are checked after the destination is known, so that the
	// error names the mount. Earlier duplicates are checked too: runc
	// decodes them all and fails on any bad one.
	for j := range ms {
		m := &ms[j]
		if !m.is("options") {
			continue
		}
		opts, insertAt, err := p.readOptions(m.val)
		if err != nil {
			return ms, fmt.Errorf("%w: mounts[%d]%s: %w", ErrInvalidConfig, i, at(d.Destination), err)
		}
		if m == optionsAt {
			// A later array overwrites an earlier one element by element
			// and is then truncated to its own length: the last one wins.
			d.Before, d.insertAt = opts, insertAt
		}
	}
	d.After = d.Before
	d.classify(p.Exclude)
	return ms, nil
}

// readOptions decodes an options value, which must be null or an array of
// strings, and returns where options would be appended.
func (p *Plan) readOptions(s span) ([]string, int, error) {
	switch c := p.config[s.start]; c {
	case 'n':
		return nil, -1, nil
	case '[':
	default:
		return nil, -1, fmt.Errorf("options is %s, not an array of strings", kind(c))
	}
	var out []string
	insertAt := -1
	i := skipSpace(p.config, s.start+1)
	for k := 0; i < s.end && p.config[i] != ']'; k++ {
		end := valueEnd(p.config, i)
		if p.config[i] != '"' {
			return nil, -1, fmt.Errorf("options[%d] is %s, not a string", k, kind(p.config[i]))
		}
		out = append(out, decodeString(p.config[i:end]))
		insertAt = end
		i = skipSpace(p.config, end)
		if i < s.end && p.config[i] == ',' {
			i = skipSpace(p.config, i+1)
		}
	}
	if out == nil {
		out = []string{} // [] is not null: keep the difference visible in Before
	}
	return out, insertAt, nil
}

// at formats a destination for an error message: " (/data)", quoted when
// it holds anything that would confuse a log line.
func at(dest string) string {
	if dest == "" {
		return ""
	}
	if strings.ContainsFunc(dest, func(r rune) bool { return !unicode.IsPrint(r) || r == '(' || r == ')' }) {
		return " (" + strconv.Quote(dest) + ")"
	}
	return " (" + dest + ")"
}

func (d *Decision) where() string {
	dest := d.Destination
	if strings.ContainsFunc(dest, func(r rune) bool { return !unicode.IsPrint(r) }) || dest == "" {
		dest = strconv.Quote(dest)
	}
	return fmt.Sprintf("%s (mounts[%d])", dest, d.Index)
}

// classify applies the candidate rule, reading options as runc's
// parseMountOptions does: "bind" sets MS_BIND and "rbind" MS_BIND|MS_REC,
// and neither clears a flag, so a mount is recursive when any option is
// rbind; "ro" sets and "rw" clears MS_RDONLY, so the last of them wins;
// the last propagation option is the one that ends up applied.
func (d *Decision) classify(exclude []string) {
	var bind, recursive, readOnly bool
	var recursiveMode string
	for _, o := range d.Before {
		switch o {
		case "bind":
			bind = true
		case "rbind":
			bind, recursive = true, true
		case "ro":
			readOnly = true
		case "rw":
			readOnly = false
		case "rro", "rrw":
			recursiveMode = o
		case "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable":
			d.Propagation = o
		}
	}
	switch {
	case !bind:
		d.Reason = "not a bind mount"
	case !readOnly:
		d.Reason = "read-write"
	case recursiveMode != "":
		d.Reason = "already " + recursiveMode
	case !recursive:
		d.Reason = "non-recursive bind: no submounts are copied in"
	default:
		if by := excludedBy(d.Destination, exclude); by != "" {
			d.Reason = "excluded by " + by
			return
		}
		d.candidate = true
		d.Reason = "read-only recursive bind"
	}
}

// excludedBy returns the exclude entry covering dest, or "". Paths are
// compared cleaned and rooted, as runc resolves a relative destination
// against the container's root.
func excludedBy(dest string, exclude []string) string {
	dest = path.Clean("/" + dest)
	for _, e := range exclude {
		if strings.TrimSpace(e) == "" {
			continue
		}
		c := path.Clean("/" + e)
		if dest == c || c == "/" || strings.HasPrefix(dest, c+"/") {
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

// Apply decides every candidate under the effective policy and s, and
// builds the new config.json. On error the Result still carries the
// decisions, with Refused on the mounts that caused it, and the input
// config unchanged.
func (p *Plan) Apply(s Support) (*Result, error) {
	res := &Result{Config: p.config, Policy: p.Policy, Mounts: slices.Clone(p.Mounts)}
	reason := s.Reason
	if reason == "" && !s.Supported {
		reason = "kernel and runtime support for rro unknown"
	}
	strict := p.Policy == Enabled && p.opts.Propagation == Strict
	var unsupported, badPropagation []string
	var edits []edit
	for i := range res.Mounts {
		d := &res.Mounts[i]
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
		add := []string{"rro"}
		switch d.Propagation {
		case "private", "rprivate", "unbindable", "runbindable":
			// Nothing can propagate in: rro holds for the container's life.
		case "":
			if strict {
				// runc's default is rslave: a host mount appearing later
				// under the source would propagate in writable.
				add = append(add, "rprivate")
			}
		default: // slave, rslave, shared, rshared
			if strict {
				d.Action = Refused
				d.Reason = "propagation " + d.Propagation + ": a host mount appearing later would arrive writable"
				badPropagation = append(badPropagation, d.where()+" has propagation "+d.Propagation)
				continue
			}
		}
		d.After = append(slices.Clip(d.Before), add...)
		d.Action, d.Reason = Rewritten, "added "+strings.Join(add, ",")
		res.Applied = append(res.Applied, d.Destination)
		edits = append(edits, insert(d.insertAt, appendOptions(nil, add)))
	}
	if len(unsupported) > 0 {
		res.Applied = nil
		return res, fmt.Errorf("%w: policy %s (from %s) needs rro, but %s; refusing to start with %s not recursively read-only",
			ErrUnsupported, p.Policy, p.PolicyFrom, reason, joinMounts(unsupported))
	}
	if len(badPropagation) > 0 {
		res.Applied = nil
		return res, fmt.Errorf("%w: policy %s (from %s): %s: a host mount appearing later under it would arrive writable; use rprivate, or set propagation = \"lenient\"",
			ErrPropagation, p.Policy, p.PolicyFrom, strings.Join(badPropagation, ", "))
	}
	if len(edits) == 0 {
		return res, nil
	}
	edits = append(edits, p.annotationEdit(strings.Join(res.Applied, ",")))
	slices.SortStableFunc(edits, func(a, b edit) int { return a.at.start - b.at.start })
	res.Config, res.Changed = splice(p.config, edits), true
	return res, nil
}

func joinMounts(list []string) string {
	if len(list) == 1 {
		return "mount " + list[0]
	}
	return "mounts " + strings.Join(list, ", ")
}

func appendOptions(b []byte, add []string) []byte {
	for _, o := range add {
		b = append(b, ',')
		b = append(b, marshalString(o)...)
	}
	return b
}

// annotationEdit sets org.rro-runc.applied in the last annotations object,
// the one whose keys win when runc merges duplicates.
func (p *Plan) annotationEdit(applied string) edit {
	value := marshalString(applied)
	entry := append(marshalString(AnnotationApplied), ':')
	entry = append(entry, value...)
	if a := p.annotations; a != nil {
		if p.config[a.start] == 'n' { // "annotations": null
			return edit{at: *a, text: append(append([]byte{'{'}, entry...), '}')}
		}
		ms := members(p.config, *a, nil)
		for i := len(ms) - 1; i >= 0; i-- {
			if ms[i].isExact(AnnotationApplied) {
				return edit{at: ms[i].val, text: value}
			}
		}
		if len(ms) == 0 {
			return insert(a.start+1, entry)
		}
		return insert(ms[len(ms)-1].val.end, append([]byte{','}, entry...))
	}
	obj := append([]byte(`,"annotations":{`), entry...)
	obj = append(obj, '}')
	if p.lastTop == 0 { // an empty object has no mounts; kept for safety
		return insert(p.top.start+1, obj[1:])
	}
	return insert(p.lastTop, obj)
}

// edit replaces the bytes in at with text; most edits are insertions.
type edit struct {
	at   span
	text []byte
}

func insert(at int, text []byte) edit { return edit{at: span{at, at}, text: text} }

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

// marshalString writes a JSON string without HTML escaping, so that an
// option like "a<b" keeps its spelling.
func marshalString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(buf.Bytes(), "\n")
}
