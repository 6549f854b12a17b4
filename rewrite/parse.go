package rewrite

// doc is what one pass over config.json records: enough to find every
// byte rro-runc reads or writes without a second pass over the mounts.
type doc struct {
	top    []member // the top-level object's members, in order
	topEnd int      // just after the top-level value
	// Each element of an array that is the value of a top-level member
	// whose key folds to "mounts" is handed to element as it ends, and
	// counted in that member's n. mounts is called at each such key. The
	// element is reused: the callee copies what it keeps.
	mounts  func()
	element func(e *element)
	cur     element
}

// Fields of a mount that rro-runc reads.
const (
	fNone = iota
	fDestination
	fSource
	fType
	fOptions
	nFields
)

var fieldNames = [nFields]string{"", "destination", "source", "type", "options"}

// element is one mounts[] element as parse saw it: where it is, and where
// the values of the fields rro-runc reads are.
type element struct {
	span
	// fields holds, per field, the span of the value encoding/json ends
	// up with: the last string for destination, source and type (null
	// leaves the value before it), the last value for options. A zero
	// span means none: offset 0 is always the top-level '{'.
	fields   [nFields]span
	nOptions int // how many options members; only the last is in fields
	bad      int // the first field whose value is neither string nor null
	badAt    int // where that value starts
}

// parse reports whether b is one JSON value, accepting exactly what
// encoding/json's Valid accepts (and so what runc can decode): invalid
// UTF-8 inside strings is accepted, raw control characters are not, and
// nesting deeper than 10,000 is refused. FuzzRewrite checks that the two
// agree. While validating, it records into d (when d is not nil) the
// spans Analyze needs, so that a 10,000-mount config costs one pass.
//
// Hand-written rather than json.Decoder tokens or a decode into
// specs.Spec because it must keep the byte offset of every value it
// records (the rewrite splices bytes, it never re-encodes), and because
// it is measured faster: on the 10,000-mount config, Analyze and Apply
// together (BenchmarkRewrite10000) take about 15 ms of CPU time and 44
// allocations, json.Unmarshal into specs.Spec alone
// (BenchmarkUnmarshalSpec10000) 30 to 40 ms and 86,000 allocations.
func parse(b []byte, d *doc) bool {
	p := parser{b: b, d: d}
	return p.run()
}

// parser is one pass of parse over b.
type parser struct {
	b     []byte
	d     *doc   // where spans are recorded; nil to validate only
	stack []byte // '{' or '[' per open container
	// loc says which container the scan is directly inside, kept up to
	// date on every push and pop so that recording is a switch on it.
	loc      int
	inMounts bool // inside the value of a top-level "mounts" member
	// field is the mount field whose value comes next, and fieldStart
	// where that value starts.
	field, fieldStart int
}

// Where the parser is, as far as recording cares.
const (
	locNone   = iota // no container: the top-level value
	locTop           // the top-level object
	locMounts        // the array value of a top-level "mounts" member
	locMount         // an object element of that array
	locOther
)

const maxDepth = 10000 // encoding/json's maxNestingDepth

func (p *parser) run() bool {
	b := p.b
	i := skipSpace(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		p.valueStart(i)
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(p.stack) >= maxDepth {
				return false
			}
			p.push(c)
			i = skipSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				p.pop()
				i++
				break // an empty container is a complete value
			}
			if c == '{' {
				if i = p.objectKey(i); i < 0 {
					return false
				}
			}
			continue
		case c == '"':
			i = stringLit(b, i)
		case c == '-' || c >= '0' && c <= '9':
			i = number(b, i)
		case c == 't':
			i = literal(b, i, "true")
		case c == 'f':
			i = literal(b, i, "false")
		case c == 'n':
			i = literal(b, i, "null")
		default:
			return false
		}
		if i < 0 {
			return false
		}
		// A value ended just before b[i]: close containers, or go on to
		// the next element or member.
		if i = p.next(i); i <= 0 {
			return i == 0
		}
	}
}

// next continues after a value that ended just before b[i]: it closes the
// containers that end there and returns where the next value starts, 0
// when the document ended as it should, or -1 on an error.
func (p *parser) next(i int) int {
	b := p.b
	for {
		p.valueEnd(i)
		i = skipSpace(b, i)
		if len(p.stack) == 0 {
			if i == len(b) {
				return 0
			}
			return -1
		}
		if i >= len(b) {
			return -1
		}
		top := p.stack[len(p.stack)-1]
		if b[i] == ',' {
			i = skipSpace(b, i+1)
			if top == '{' {
				i = p.objectKey(i)
			}
			return i
		}
		if top == '{' && b[i] == '}' || top == '[' && b[i] == ']' {
			p.pop()
			i++
			continue
		}
		return -1
	}
}

// objectKey checks `"key" :` at b[i] and returns the index of the value
// after it, or -1.
func (p *parser) objectKey(i int) int {
	b := p.b
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	end := stringLit(b, i)
	if end < 0 {
		return -1
	}
	p.key(i, end)
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// push opens container c.
func (p *parser) push(c byte) {
	p.stack = append(p.stack, c)
	switch {
	case p.loc == locNone && c == '{':
		p.loc = locTop
	case p.loc == locTop && c == '[' && p.inMounts:
		p.loc = locMounts
	case p.loc == locMounts && c == '{':
		p.loc = locMount
	default:
		p.loc = locOther
	}
}

// pop closes the innermost container.
func (p *parser) pop() {
	p.stack = p.stack[:len(p.stack)-1]
	s := p.stack
	switch {
	case len(s) == 0:
		p.loc = locNone
	case len(s) == 1 && s[0] == '{':
		p.loc = locTop
	case len(s) == 2 && p.inMounts && s[0] == '{' && s[1] == '[':
		p.loc = locMounts
	case len(s) == 3 && p.inMounts && s[0] == '{' && s[1] == '[' && s[2] == '{':
		p.loc = locMount
	default:
		p.loc = locOther
	}
}

// key records the key literal b[i:end] of the current object.
func (p *parser) key(i, end int) {
	if p.d == nil {
		return
	}
	switch p.loc {
	case locTop:
		m := member{key: p.b[i:end], keyAt: i}
		if m.is("mounts") {
			p.inMounts = true
			p.d.mounts()
		}
		p.d.top = append(p.d.top, m)
	case locMount:
		m := member{key: p.b[i:end]}
		p.field = fNone
		for f := fDestination; f < nFields; f++ {
			if m.is(fieldNames[f]) {
				p.field = f
				break
			}
		}
	}
}

// valueStart records that the value directly inside the current
// container begins at b[i].
func (p *parser) valueStart(i int) {
	if p.d == nil {
		return
	}
	switch p.loc {
	case locTop:
		p.d.top[len(p.d.top)-1].val.start = i
	case locMounts:
		p.d.cur = element{span: span{start: i}}
	case locMount:
		p.fieldStart = i
	}
}

// valueEnd records that the value directly inside the current container
// ends just before b[i].
func (p *parser) valueEnd(i int) {
	d := p.d
	if d == nil {
		return
	}
	switch p.loc {
	case locNone:
		d.topEnd = i
	case locTop:
		d.top[len(d.top)-1].val.end = i
		p.inMounts = false
	case locMounts:
		d.cur.end = i
		d.top[len(d.top)-1].n++
		d.element(&d.cur)
	case locMount:
		e := &d.cur
		switch {
		case p.field == fOptions:
			e.nOptions++
			e.fields[p.field] = span{p.fieldStart, i}
		case p.field == fNone:
		case p.b[p.fieldStart] == '"':
			e.fields[p.field] = span{p.fieldStart, i}
		case p.b[p.fieldStart] == 'n':
		case e.bad == 0:
			e.bad, e.badAt = p.field, p.fieldStart
		}
	}
}

// valid is parse without recording, for tests and callers that only ask.
func valid(b []byte) bool { return parse(b, nil) }

// stringLit checks the string literal at b[i] and returns the index after
// it, or -1.
func stringLit(b []byte, i int) int {
	i++
	for {
		// Plain comparisons: a 256-entry lookup table measured no faster
		// in BenchmarkRewrite10000.
		for i < len(b) && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return -1
				}
				i += 4
			default:
				return -1
			}
			i++
		default: // a control character
			return -1
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number checks the number at b[i] against JSON's grammar and returns the
// index after it, or -1.
func number(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return i
}

func literal(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}
