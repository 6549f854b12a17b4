// Package rewrite turns the read-only recursive bind mounts of an OCI
// config.json into recursively read-only ones (the mount option "rro").
//
// It is pure: bytes and decisions in, bytes and decisions out, no I/O, so
// the wrapper, rroctl, an NRI plugin and the fuzzer all run the same code.
//
// Two ways in, one set of rules:
//   - Analyze reads config.json bytes and classifies its mounts;
//     Plan.Apply takes what the caller learnt about kernel and runtime
//     support, decides, and produces the new bytes.
//   - AnalyzeMounts takes mounts and annotations a caller already decoded
//     (an NRI plugin's CreateContainer request); Plan.Decide returns the
//     decisions alone: per mount the Action, the options After, the
//     Reason, and the refusal error exactly as Apply returns it.
//
// Apply is Decide followed by building the edits, so both ways decide
// identically; the fuzz test checks it on every input.
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
	"unicode/utf8"
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

	// recursivePropagation is the last recursive propagation option, the
	// one the submounts of an rbind end up with; "" when none is given.
	recursivePropagation string

	candidate bool
	bind      bool // bind or rbind among the options
	readOnly  bool // the last of ro and rw is ro
	null      bool // a null element: encoding/json leaves a zero Mount
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
	// are preliminary (all Unchanged) until Decide (or Apply), which fills
	// them in place and returns the same slice as Outcome.Mounts.
	Mounts []Decision

	config []byte
	opts   Options
	top    span
	// excludeClean is Exclude without blank entries, each beside its
	// cleaned form.
	excludeClean [][2]string
	// slab backs every Decision's Before, so that reading a config costs
	// a few allocations per mount, not one per option.
	slab []string
	// text is config as a string, made on first use by str.
	text string
	// lastTop is the end of the last top-level member's value, where a
	// new "annotations" member goes.
	lastTop int
	// annotations is the value of the last "annotations" member, the one
	// whose keys win in runc's merged map; nil when there is none.
	annotations *span
}

// Result is the outcome of Apply: the decisions and the new bytes.
type Result struct {
	Outcome
	// Config is the new config.json, or the input slice itself when
	// nothing changed.
	Config  []byte
	Changed bool
}

// Analyze reads config and decides, for every mount, whether it is a
// candidate. It needs no support information, so a caller can skip the
// probe when NeedsSupport is false.
func Analyze(config []byte, opts Options) (*Plan, error) {
	p := &Plan{config: config, opts: opts, Policy: opts.Policy, PolicyFrom: "config"}
	// Mounts are decoded as the one pass over the config meets them.
	// Their classification waits for the annotations, which may come
	// later in the document. The capacity is a hint, so that the
	// decisions are allocated once: every mount is an object, and in a
	// large config most objects are mounts. Counting one byte is cheap.
	// Capped, so that a config of braces cannot ask for gigabytes.
	p.Mounts = make([]Decision, 0, min(bytes.Count(config, []byte{'{'}), 1<<16))
	var mountsErr error
	d := doc{
		mounts: func() { p.Mounts = p.Mounts[:0] },
		element: func(e *element) {
			if mountsErr == nil {
				p.Mounts = append(p.Mounts, Decision{})
				k := len(p.Mounts) - 1
				mountsErr = p.readMount(&p.Mounts[k], k, e)
			}
		},
	}
	if !parse(config, &d) {
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
	p.top = span{start, d.topEnd}
	top := d.top
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
	if err := p.readMounts(&d, mountsErr); err != nil {
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

func (p *Plan) readMounts(d *doc, mountsErr error) error {
	// Only the last "mounts" member counts, but encoding/json decodes
	// every one into the same slice, reusing its elements: a second array
	// would inherit fields from the first. After null or [] the slice is
	// fresh, so only those may come before the last.
	var last *member
	for i := range d.top {
		m := &d.top[i]
		if !m.is("mounts") {
			continue
		}
		switch c := p.config[m.val.start]; c {
		case '[', 'n':
		default:
			p.Mounts = nil
			return fmt.Errorf("%w: mounts is %s, not an array", ErrInvalidConfig, kind(c))
		}
		if last != nil && last.n > 0 {
			p.Mounts = nil
			return fmt.Errorf("%w: mounts appears more than once (as %s and %s): runc would merge the arrays element by element, so which options it uses cannot be told",
				ErrInvalidConfig, last.key, m.key)
		}
		last = m
	}
	if mountsErr != nil {
		p.Mounts = nil
		return mountsErr
	}
	if len(p.Mounts) == 0 {
		p.Mounts = nil
		return nil
	}
	p.cleanExclude()
	for i := range p.Mounts {
		if !p.Mounts[i].null {
			p.Mounts[i].classify(p.excludeClean)
		}
	}
	return nil
}

// str decodes the string literal at s. Most need no decoding, and are
// then cut from text, one copy of the whole config: a handful of objects
// for the garbage collector to mark, not three per mount.
func (p *Plan) str(s span) string {
	inner := p.config[s.start+1 : s.end-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		if p.text == "" {
			p.text = string(p.config)
		}
		return p.text[s.start+1 : s.end-1]
	}
	return decodeString(p.config[s.start:s.end])
}

// cleanExclude prepares the exclusion list once, not once per mount.
func (p *Plan) cleanExclude() {
	p.excludeClean = cleanExcludes(p.Exclude, p.excludeClean)
}

// readMount fills d from mounts[i], recorded by parse as e.
func (p *Plan) readMount(d *Decision, i int, e *element) error {
	d.Index = i
	switch c := p.config[e.start]; c {
	case '{':
	case 'n':
		// encoding/json leaves a null element as a zero Mount; runc then
		// fails on its empty destination, which is not for rro-runc to say.
		d.Reason, d.null = "null entry", true
		return nil
	default:
		return fmt.Errorf("%w: mounts[%d] is %s, not an object", ErrInvalidConfig, i, kind(c))
	}
	for f, dst := range [...]*string{fDestination: &d.Destination, fSource: &d.Source, fType: &d.Type} {
		if s := e.fields[f]; dst != nil && s.end > 0 {
			*dst = p.str(s)
		}
	}
	fail := func(err error) error {
		return fmt.Errorf("%w: mounts[%d]%s: %w", ErrInvalidConfig, i, at(d.Destination), err)
	}
	if e.bad != fNone {
		return fail(fmt.Errorf("%s is %s, not a string", fieldNames[e.bad], kind(p.config[e.badAt])))
	}
	if e.nOptions > 1 {
		// runc decodes every duplicate and fails on any bad one; only
		// the last one's elements survive. Rare, so a second look.
		slab := len(p.slab)
		for _, m := range members(p.config, e.span, nil) {
			if m.is("options") {
				if _, _, err := p.readOptions(m.val); err != nil {
					return fail(err)
				}
			}
		}
		p.slab = p.slab[:slab]
	}
	if s := e.fields[fOptions]; s.end > 0 {
		var err error
		if d.Before, d.insertAt, err = p.readOptions(s); err != nil {
			return fail(err)
		}
	}
	d.After = d.Before
	return nil
}

// readOptions decodes an options value, which must be null or an array of
// strings, and returns where options would be appended. The strings go
// into one slab shared by all mounts, capped so that appending to one
// mount's list copies it rather than overwriting the next.
func (p *Plan) readOptions(s span) ([]string, int, error) {
	b := p.config
	switch c := b[s.start]; c {
	case 'n':
		return nil, -1, nil
	case '[':
	default:
		return nil, -1, fmt.Errorf("options is %s, not an array of strings", kind(c))
	}
	first := len(p.slab)
	insertAt := -1
	i := skipSpace(b, s.start+1)
	for k := 0; i < s.end && b[i] != ']'; k++ {
		end := valueEnd(b, i)
		if b[i] != '"' {
			p.slab = p.slab[:first]
			return nil, -1, fmt.Errorf("options[%d] is %s, not a string", k, kind(b[i]))
		}
		if len(p.slab) == cap(p.slab) {
			// Double: append grows a large slice by a quarter, copying
			// it more often.
			p.slab = slices.Grow(p.slab, max(len(p.slab), 64))
		}
		p.slab = append(p.slab, decodeString(b[i:end]))
		insertAt = end
		i = skipSpace(b, end)
		if i < s.end && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	if len(p.slab) == first {
		return []string{}, -1, nil // [] is not null: keep the difference visible in Before
	}
	return p.slab[first:len(p.slab):len(p.slab)], insertAt, nil
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
// propagation options are applied one after the other (mountPropagate),
// so the last one decides the top mount and the last recursive one what
// the copied submounts keep.
func (d *Decision) classify(exclude [][2]string) {
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
		case "rprivate", "rslave", "rshared", "runbindable":
			d.recursivePropagation = o
			d.Propagation = o
		case "private", "slave", "shared", "unbindable":
			d.Propagation = o
		}
	}
	d.bind, d.readOnly = bind, readOnly
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
		d.Reason = reasonCandidate
	}
}

const reasonCandidate = "read-only recursive bind"

// excludedBy returns the exclude entry covering dest, or "". Paths are
// compared cleaned and rooted, as runc resolves a relative destination
// against the container's root. exclude holds {entry, cleaned entry}.
func excludedBy(dest string, exclude [][2]string) string {
	if len(exclude) == 0 {
		return ""
	}
	if strings.HasPrefix(dest, "/") {
		dest = path.Clean(dest) // no allocation when already clean
	} else {
		dest = path.Clean("/" + dest)
	}
	for _, e := range exclude {
		c := e[1]
		if dest == c || c == "/" || len(dest) > len(c) && dest[len(c)] == '/' && dest[:len(c)] == c {
			return e[0]
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

// Apply decides every candidate under the effective policy and s (see
// Decide), and builds the new config.json. On error the Result still
// carries the decisions, with Refused on the mounts that caused it, and
// the input config unchanged.
func (p *Plan) Apply(s Support) (*Result, error) {
	if p.config == nil {
		return nil, fmt.Errorf("%w: Apply needs config.json bytes; a plan made by AnalyzeMounts has only decisions (use Decide)", ErrInvalidConfig)
	}
	o, err := p.Decide(s)
	res := &Result{Outcome: *o, Config: p.config}
	if err != nil || len(o.Applied) == 0 {
		return res, err
	}
	res.Config, res.Changed = p.build(o), true
	return res, nil
}

// build returns the config with the options each rewritten mount gained
// appended to its options array, and the applied annotation set.
func (p *Plan) build(o *Outcome) []byte {
	edits := make([]edit, 0, len(o.Applied)+1)
	for i := range o.Mounts {
		if d := &o.Mounts[i]; d.Action == Rewritten {
			edits = append(edits, insert(d.insertAt, appendedText(d.After[len(d.Before):])))
		}
	}
	edits = append(edits, p.annotationEdit(strings.Join(o.Applied, ",")))
	slices.SortStableFunc(edits, func(a, b edit) int { return a.at.start - b.at.start })
	return splice(p.config, edits)
}

// appendedText is the JSON text that appends options after the last
// existing element of an options array.
func appendedText(add []string) []byte {
	switch {
	case slices.Equal(add, addRRO):
		return insRRO
	case slices.Equal(add, addRROPrivate):
		return insRROPrivate
	}
	var b []byte
	for _, o := range add {
		b = append(append(b, ','), marshalString(o)...)
	}
	return b
}

func joinMounts(list []string) string {
	if len(list) == 1 {
		return "mount " + list[0]
	}
	return "mounts " + strings.Join(list, ", ")
}

// What Apply appends, as options and as the bytes inserted after the last
// existing option. Shared and never written to: After is a fresh copy.
var (
	addRRO        = []string{"rro"}
	addRROPrivate = []string{"rro", "rprivate"}
	insRRO        = []byte(`,"rro"`)
	insRROPrivate = []byte(`,"rro","rprivate"`)
)

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

// marshalString writes a JSON string as encoding/json does, but without
// HTML escaping, so that a destination like "/a<b" keeps its spelling.
// The usual string needs no escaping at all and is quoted directly: the
// applied annotation of 10,000 mounts is long.
func marshalString(s string) []byte {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == '"' || r == '\\' || r == '\u2028' || r == '\u2029'
	}) {
		return append(append(append(make([]byte, 0, len(s)+2), '"'), s...), '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(buf.Bytes(), "\n")
}
