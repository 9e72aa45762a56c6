package mapping

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unsafe"
)

// The raw path reads an event with this scanner rather than gjson: one pass
// both validates the document and finds the fields, where gjson needs a
// validation pass and then re-scans every object each time it is walked.

// maxDepth bounds the nesting of arrays and objects, as encoding/json does
// when Benthos parses a message, so a hostile message cannot make the
// scanner recurse without limit.
const maxDepth = 10000

// jsonValue is one value of the event, as JSON text.
type jsonValue struct {
	raw     string // the value's JSON text; "" when absent
	kind    kind
	escaped bool // a string holding escape sequences
}

// text is a string's content or a number's literal; "" for other kinds.
func (v jsonValue) text() string {
	switch v.kind {
	case str:
		if v.escaped {
			return unescape(v.raw)
		}
		return v.raw[1 : len(v.raw)-1]
	case num:
		return v.raw
	}
	return ""
}

func (v jsonValue) value() value { return value{kind: v.kind, text: v.text()} }

// unescape decodes a validated JSON string literal that holds escapes. It
// uses encoding/json, which is what Benthos parses messages with, so both
// paths read the same text, down to lone surrogates. Escapes are rare in
// Currents data, which keeps the allocation off the common path.
func unescape(raw string) string {
	var s string
	_ = json.Unmarshal([]byte(raw), &s)
	return s
}

// scanner reads JSON text from the start, validating as it goes. After the
// first error it sets bad and jumps to the end, so every later call is a
// cheap no-op and callers check bad once, when they are done.
type scanner struct {
	s     string
	i     int
	depth int
	bad   bool
}

func (sc *scanner) fail() {
	sc.bad = true
	sc.i = len(sc.s)
}

// spaceBits has bit c set for each JSON whitespace byte c.
const spaceBits = 1<<' ' | 1<<'\n' | 1<<'\t' | 1<<'\r'

func (sc *scanner) skipSpace() {
	s, i := sc.s, sc.i // locals stay in registers in the loop
	for i < len(s) && s[i] <= ' ' && spaceBits>>s[i]&1 != 0 {
		i++
	}
	sc.i = i
}

// peek returns the next byte after whitespace, or 0 at the end (or at a NUL
// byte, which is just as invalid where a token is due).
func (sc *scanner) peek() byte {
	sc.skipSpace()
	if sc.i == len(sc.s) {
		return 0
	}
	return sc.s[sc.i]
}

// end checks that nothing but whitespace follows the document.
func (sc *scanner) end() {
	if sc.skipSpace(); sc.i != len(sc.s) {
		sc.fail()
	}
}

// enter and leave track the nesting depth of containers.
func (sc *scanner) enter() {
	if sc.depth++; sc.depth > maxDepth {
		sc.fail()
	}
}

func (sc *scanner) leave() { sc.depth-- }

// value reads one value, containers validated in full.
func (sc *scanner) value() jsonValue {
	c := sc.peek()
	start := sc.i
	v := jsonValue{}
	switch {
	case c == '"':
		v.kind, v.escaped = str, sc.str()
	case c == '{':
		v.kind = obj
		for it := sc.object(); it.next(sc); {
			sc.value()
		}
	case c == '[':
		v.kind = other
		sc.array()
	case c == '-' || '0' <= c && c <= '9':
		v.kind = num
		sc.number()
	case c == 't':
		v.kind = other
		sc.literal("true")
	case c == 'f':
		v.kind = other
		sc.literal("false")
	case c == 'n':
		v.kind = null
		sc.literal("null")
	default:
		sc.fail()
	}
	if sc.bad {
		return jsonValue{}
	}
	v.raw = sc.s[start:sc.i]
	return v
}

// stringStop marks the bytes that end the plain run of a string: the quote,
// the backslash and the control characters JSON forbids in strings.
var stringStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// str reads a string at the opening quote and reports whether it holds
// escapes. UTF-8 is not checked here: the caller has already made the whole
// document valid UTF-8.
//
// Strings are most of an event's text, so the plain runs between quotes,
// backslashes and control characters are skipped eight bytes at a time with
// the classic SWAR tests: (x - 0x01…01) & ^x & 0x80…80 flags the zero bytes
// of x, (x - n·0x01…01) & ^x & 0x80…80 the bytes below n. A flag can be
// spurious only above a genuine one, so the lowest flag is exact.
func (sc *scanner) str() (escaped bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	s, i := sc.s, sc.i+1
	for {
		for ; i+8 <= len(s); i += 8 {
			x := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
			q, b := x^('"'*ones), x^('\\'*ones)
			if flags := ((x-0x20*ones) & ^x | (q-ones) & ^q | (b-ones) & ^b) & highs; flags != 0 {
				i += bits.TrailingZeros64(flags) / 8
				break
			}
		}
		for i < len(s) && !stringStop[s[i]] {
			i++
		}
		if i == len(s) {
			sc.fail()
			return false
		}
		switch s[i] {
		case '"':
			sc.i = i + 1
			return escaped
		case '\\':
			escaped = true
			n := escapeLen(s[i:])
			if n == 0 {
				sc.fail()
				return false
			}
			i += n
		default: // a control character
			sc.fail()
			return false
		}
	}
}

// escapeLen is the length of the escape sequence at the start of s, or 0
// when it is not a valid one.
func escapeLen(s string) int {
	if len(s) < 2 {
		return 0
	}
	switch s[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(s) < 6 {
			return 0
		}
		for _, c := range []byte(s[2:6]) {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return 0
			}
		}
		return 6
	}
	return 0
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (sc *scanner) number() {
	s, i := sc.s, sc.i
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = digits(s, i)
	default:
		sc.fail()
		return
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		if i = digits(s, i); i == start {
			sc.fail()
			return
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		if i = digits(s, i); i == start {
			sc.fail()
			return
		}
	}
	sc.i = i
}

func digits(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

func (sc *scanner) literal(word string) {
	if len(sc.s)-sc.i < len(word) || sc.s[sc.i:sc.i+len(word)] != word {
		sc.fail()
		return
	}
	sc.i += len(word)
}

func (sc *scanner) array() {
	sc.i++ // [
	sc.enter()
	if sc.peek() == ']' {
		sc.i++
		sc.leave()
		return
	}
	for !sc.bad {
		sc.value()
		switch sc.peek() {
		case ',':
			sc.i++
		case ']':
			sc.i++
			sc.leave()
			return
		default:
			sc.fail()
		}
	}
}

// members walks an object's members. After next returns true the scanner
// stands before the member's value, which the caller must read (with value
// or by walking it) before calling next again. It holds no pointer to the
// scanner: Go's escape analysis does not tell fields apart, and a pointer
// beside the key would send the scanner to the heap with every key stored.
type members struct {
	first bool
	key   jsonValue // the member's name as a JSON string
}

// object starts walking the object at the scanner's position; the caller
// has peeked its opening brace.
func (sc *scanner) object() members {
	sc.i++ // {
	sc.enter()
	return members{first: true}
}

func (it *members) next(sc *scanner) bool {
	c := sc.peek()
	if c == '}' {
		sc.i++
		sc.leave()
		return false
	}
	if !it.first {
		if c != ',' {
			sc.fail()
			return false
		}
		sc.i++
		c = sc.peek()
	}
	if c != '"' {
		sc.fail()
		return false
	}
	it.first = false
	start := sc.i
	escaped := sc.str()
	it.key = jsonValue{raw: sc.s[start:sc.i], kind: str, escaped: escaped}
	if sc.peek() != ':' {
		sc.fail()
		return false
	}
	sc.i++
	return true
}

// name is the member's name, unescaped.
func (it *members) name() string { return it.key.text() }
