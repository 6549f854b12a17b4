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
// spans Analyze needs, so that a 10,000-mount config costs one pass and a
// handful of allocations instead of json.Valid's function call per byte
// followed by further passes.
func parse(b []byte, d *doc) bool {
	const maxDepth = 10000 // encoding/json's maxNestingDepth
	var stack []byte       // '{' or '[' per open container
	inMounts := false      // inside the value of a top-level "mounts" member
	field, fieldStart := fNone, 0
	// loc says which container the scan is directly inside, kept up to
	// date on every push and pop so that recording is a switch on it.
	const (
		locNone   = iota // no container: the top-level value
		locTop           // the top-level object
		locMounts        // the array value of a top-level "mounts" member
		locMount         // an object element of that array
		locOther
	)
	loc := locNone
	push := func(c byte) {
		switch {
		case loc == locNone && c == '{':
			loc = locTop
		case loc == locTop && c == '[' && inMounts:
			loc = locMounts
		case loc == locMounts && c == '{':
			loc = locMount
		default:
			loc = locOther
		}
	}
	pop := func() { // after the stack lost its innermost container
		switch {
		case len(stack) == 0:
			loc = locNone
		case len(stack) == 1 && stack[0] == '{':
			loc = locTop
		case len(stack) == 2 && inMounts && stack[0] == '{' && stack[1] == '[':
			loc = locMounts
		case len(stack) == 3 && inMounts && stack[0] == '{' && stack[1] == '[' && stack[2] == '{':
			loc = locMount
		default:
			loc = locOther
		}
	}
	// key records the key literal b[i:end].
	key := func(i, end int) {
		switch loc {
		case locTop:
			m := member{key: b[i:end]}
			if m.is("mounts") {
				inMounts = true
				d.mounts()
			}
			d.top = append(d.top, m)
		case locMount:
			m := member{key: b[i:end]}
			field = fNone
			for f := fDestination; f < nFields; f++ {
				if m.is(fieldNames[f]) {
					field = f
					break
				}
			}
		}
	}
	if d == nil {
		key = func(int, int) {}
	}
	// valueStart and valueEnd record where the value directly inside the
	// current container begins and ends.
	valueStart := func(i int) {
		switch loc {
		case locTop:
			d.top[len(d.top)-1].val.start = i
		case locMounts:
			d.cur = element{span: span{start: i}}
		case locMount:
			fieldStart = i
		}
	}
	valueEnd := func(i int) {
		switch loc {
		case locNone:
			d.topEnd = i
		case locTop:
			d.top[len(d.top)-1].val.end = i
			inMounts = false
		case locMounts:
			d.cur.end = i
			d.top[len(d.top)-1].n++
			d.element(&d.cur)
		case locMount:
			e := &d.cur
			switch {
			case field == fOptions:
				e.nOptions++
				e.fields[field] = span{fieldStart, i}
			case field == fNone:
			case b[fieldStart] == '"':
				e.fields[field] = span{fieldStart, i}
			case b[fieldStart] == 'n':
			case e.bad == 0:
				e.bad, e.badAt = field, fieldStart
			}
		}
	}
	if d == nil {
		valueStart, valueEnd = func(int) {}, func(int) {}
	}
	// objectKey checks `"key" :` at b[i] and returns the index of the
	// value after it, or -1.
	objectKey := func(i int) int {
		if i >= len(b) || b[i] != '"' {
			return -1
		}
		end := stringLit(b, i)
		if end < 0 {
			return -1
		}
		key(i, end)
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		return skipSpace(b, i+1)
	}

	i := skipSpace(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		valueStart(i)
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(stack) >= maxDepth {
				return false
			}
			stack = append(stack, c)
			push(c)
			i = skipSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				stack = stack[:len(stack)-1]
				pop()
				i++
				break // an empty container is a complete value
			}
			if c == '{' {
				if i = objectKey(i); i < 0 {
					return false
				}
			}
			continue
		case c == '"':
			if i = stringLit(b, i); i < 0 {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if i = number(b, i); i < 0 {
				return false
			}
		case c == 't':
			if i = literal(b, i, "true"); i < 0 {
				return false
			}
		case c == 'f':
			if i = literal(b, i, "false"); i < 0 {
				return false
			}
		case c == 'n':
			if i = literal(b, i, "null"); i < 0 {
				return false
			}
		default:
			return false
		}
		// A value ended just before b[i]: close containers, or go on to
		// the next element or member.
		for {
			valueEnd(i)
			i = skipSpace(b, i)
			if len(stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := stack[len(stack)-1]
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				if top == '{' {
					if i = objectKey(i); i < 0 {
						return false
					}
				}
				break
			}
			if top == '{' && b[i] == '}' || top == '[' && b[i] == ']' {
				stack = stack[:len(stack)-1]
				pop()
				i++
				continue
			}
			return false
		}
	}
}

// valid is parse without recording, for tests and callers that only ask.
func valid(b []byte) bool { return parse(b, nil) }

// plain marks the bytes a string may hold without a closer look: not a
// control character, quote or backslash. One table lookup per byte is
// what makes the scan of a config's many short strings fast.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// stringLit checks the string literal at b[i] and returns the index after
// it, or -1.
func stringLit(b []byte, i int) int {
	i++
	for {
		for i < len(b) && plain[b[i]] {
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
