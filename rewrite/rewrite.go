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
// The administrator's vocabulary (Policy, Propagation, Options, their
// parsers and sentinels) is defined by the policy stage that reads it and
// re-exported here under the same names (policy.go), so rewrite imports
// policy and never the reverse.
//
// Guarantees:
//   - Lossless: only the options arrays of rewritten mounts and rro-runc's
//     own annotations (org.rro-runc.applied, org.rro-runc.excluded)
//     change. Options are appended after the last existing element; every
//     other byte stays, including fields no Go struct knows (seccomp
//     errnoRet in old structs), number spellings up to and past 2^64-1,
//     key order, whitespace and escapes.
//   - It reads config.json the way runc does (Go's encoding/json into
//     specs.Spec): keys of struct fields match case-insensitively with
//     Unicode folding, map keys exactly, the last duplicate key wins, null
//     leaves a string field as it was and resets a map, and duplicate
//     "annotations" objects merge. Where encoding/json's result depends on
//     slice reuse (a second non-empty "mounts" array merging into the
//     first element by element) or is garbage (a null mount option, which
//     runc reads as ""), the config is refused with ErrInvalidConfig
//     instead of guessed at.
//   - Its edits land where that decoder ends up: for every config it
//     accepts, encoding/json decodes the output into the input's Spec plus
//     the added options and rro-runc's annotations, nothing more or less
//     (FuzzRewrite checks it against encoding/json itself).
//   - Only rro-runc writes its annotations: whatever values a config
//     arrives with are replaced or removed (Outcome.AnnotationValues), so
//     the applied record never names a mount that does not carry rro.
//   - The type field is ignored, as runc ignores it for binds: a mount is
//     a bind when its options say bind or rbind.
//   - Excluded is only what recursion breaks or an administrator names:
//     binds whose source is the host's own /dev, /proc, /sys or
//     /sys/fs/cgroup (HostInterfaces), and Options.Exclude. A destination
//     the workload picks excludes nothing by itself. An excluded
//     read-only recursive bind is reported (Decision.ExcludedBy,
//     org.rro-runc.excluded), never silently left.
//   - Strict propagation (Enabled with Strict) means what it says: a
//     candidate keeps its propagation only when its last propagation option
//     is rprivate or runbindable; a plain private or unbindable, which acts
//     on the top mount only, gets rprivate appended.
//   - Idempotent: rewriting its own output changes nothing, because
//     rewritten mounts carry rro and the annotations already say so.
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
	// AnnotationExcluded is written when read-only recursive binds were
	// left without rro because an exclusion covers them: their
	// destinations, comma-separated, so that a mount whose submounts stay
	// writable is visible where the applied ones are.
	AnnotationExcluded = "org.rro-runc.excluded"
)

// ownedAnnotations are the annotations only rro-runc writes. Whatever a
// config arrives with under these keys is replaced or removed, so that a
// container cannot present a record rro-runc did not make.
var ownedAnnotations = [nOwned]string{AnnotationApplied, AnnotationExcluded}

const (
	ownedApplied = iota
	ownedExcluded
	nOwned
)

// HostInterfaces are the host's own kernel interfaces, which recursion
// breaks when they are bound in read-only: Docker's rro turned
// `-v /dev:/dev:ro` into a read-only /dev/shm (moby#47158), and cgroup v1
// `-v /sys/fs/cgroup:/sys/fs/cgroup:ro` broke systemd containers. A bind
// whose source is one of them, exactly and as written (no "." or ".."
// segment), is never made rro. Only the exact paths: beneath them are
// paths a workload can point anywhere (/dev/fd/.. is /proc/self,
// /proc/1/root is the host's /), and a destination is whatever the pod
// says, so neither may keep a host volume's submounts writable.
var HostInterfaces = []string{"/dev", "/proc", "/sys", "/sys/fs/cgroup"}

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
	// ExcludedBy is set on a read-only recursive bind left without rro
	// because an exclusion covers it: the Exclude entry, or the
	// HostInterfaces path its source is (Reason tells which). Its
	// submounts stay writable.
	ExcludedBy string `json:"excludedBy,omitempty"`

	// recursivePropagation is the last recursive propagation option, the
	// one the submounts of an rbind end up with; "" when none is given.
	recursivePropagation string

	candidate bool
	bind      bool   // bind or rbind among the options
	readOnly  bool   // the last of ro and rw is ro
	recursive string // the last of rro and rrw, "" when neither
	null      bool   // a null element: encoding/json leaves a zero Mount
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
	// annotations are the values of the "annotations" members whose keys
	// reach runc's merged map: those after the last null, which resets
	// it. lastNull says the last member is null: nothing reaches the map,
	// and new annotations need a member of their own after it.
	annotations []span
	lastNull    bool
	// owned are the values the config carries for ownedAnnotations, as
	// runc reads them, and whether it carries them at all.
	owned [nOwned]ownedValue
}

type ownedValue struct {
	value   string
	present bool
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
	// large config most objects are mounts. Measured: growing the slice
	// by append instead doubles the bytes allocated and costs about half
	// again the CPU time of BenchmarkRewrite10000. Capped, so that a
	// config of braces cannot ask for gigabytes.
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
		if p.lastNull = raw[0] == 'n'; p.lastNull {
			p.annotations = p.annotations[:0]
		} else {
			p.annotations = append(p.annotations, m.val)
		}
	}
	p.readOwned(out)
	return out, nil
}

func (p *Plan) readOwned(a map[string]string) {
	for k, key := range ownedAnnotations {
		p.owned[k].value, p.owned[k].present = a[key]
	}
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
// then cut from text, one copy of the whole config. Measured in
// BenchmarkRewrite10000: 20,000 allocations fewer (the allocs/op README
// states), for 1.2 MB more and no CPU time either way.
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
		return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, d.where(), err)
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
			// it more often. Measured: 1.1 MB and 14 allocations less
			// per BenchmarkRewrite10000 config.
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

// where names a mount in a message: its destination, then its index, as
// in `/data (mounts[3])`.
func (d *Decision) where() string {
	return Printable(d.Destination) + " (mounts[" + strconv.Itoa(d.Index) + "])"
}

// Printable returns a value from a config as it may appear in a message
// or a report column: as it is, or Go-quoted when it is empty or holds a
// character that is not printable, a space or a parenthesis, so that a
// hostile config cannot forge lines, columns or a mount's position.
func Printable(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool {
		return !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '(' || r == ')'
	}) {
		return strconv.Quote(s)
	}
	return s
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
			d.recursive = o
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
	case d.recursive != "":
		d.Reason = "already " + d.recursive
	case !recursive:
		d.Reason = "non-recursive bind: no submounts are copied in"
	default:
		if by := excludedBy(d.Destination, exclude); by != "" {
			d.ExcludedBy, d.Reason = by, "excluded by "+by+": its submounts stay writable"
			return
		}
		if h := hostInterface(d.Source); h != "" {
			d.ExcludedBy = h
			d.Reason = "the host's own " + h + " (recursion breaks it): its submounts stay writable"
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

func joinMounts(list []string) string {
	if len(list) == 1 {
		return "mount " + list[0]
	}
	return "mounts " + strings.Join(list, ", ")
}
