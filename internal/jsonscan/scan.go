// Package jsonscan is a validating one-pass JSON reader. It accepts exactly
// the documents encoding/json accepts (given valid UTF-8, which callers
// check first) and hands out values as slices of the input, so a caller can
// validate a whole document and pick out the fields it needs in one pass.
// gjson needs a validation pass and then re-scans every object each time it
// is walked; encoding/json allocates.
//
// Typical use:
//
//	sc := jsonscan.New(doc)
//	it := sc.Object()
//	for it.Next(&sc) {
//		switch it.Name() {
//		case "id":
//			id = sc.Value()
//		default:
//			sc.Value() // validated, not kept
//		}
//	}
//	if sc.End(); sc.Bad() { ... }
//
// Declare the walker before the loop, as above. Declared in the for
// statement, it would be copied at every turn (each iteration has its own
// loop variable, and Next takes its address), and reading a copy just
// written in pieces stalls the CPU: this cost the mapping about a tenth of
// its time.
package jsonscan

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"unsafe"
)

// MaxDepth bounds the nesting of arrays and objects, as encoding/json does,
// so a hostile document cannot make the scanner recurse without limit.
const MaxDepth = 10000

// Kind is the JSON type of a Value.
type Kind uint8

const (
	Absent Kind = iota // no value: the zero Value, a member never seen
	Null
	String
	Number
	Object
	Array
	Bool
)

// Value is one JSON value as its text.
type Value struct {
	Raw     string // the value's JSON text; "" when absent
	Kind    Kind
	Escaped bool // a string holding escape sequences
}

// Text is a string's content or a number's literal; "" for other kinds.
func (v Value) Text() string {
	switch v.Kind {
	case String:
		if v.Escaped {
			return unescape(v.Raw)
		}
		return v.Raw[1 : len(v.Raw)-1]
	case Number:
		return v.Raw
	}
	return ""
}

// unescape decodes a validated JSON string literal that holds escapes. It
// uses encoding/json so that the text is what encoding/json (and so Benthos)
// reads, down to lone surrogates. Escapes are rare in the data this reads,
// which keeps the allocation off the common path; not inlining it lets its
// callers inline.
//
//go:noinline
func unescape(raw string) string {
	var s string
	_ = json.Unmarshal([]byte(raw), &s)
	return s
}

// Scanner reads JSON text from the start, validating as it goes. After the
// first error it is Bad and stands at the end, so every later call is a
// cheap no-op and callers check Bad once, when they are done. A Scanner is
// a small value meant to live on the caller's stack.
type Scanner struct {
	s       string
	i       int
	depth   int
	bad     bool
	tooDeep bool // bad because of MaxDepth
}

// New returns a Scanner at the start of doc.
func New(doc string) Scanner { return Scanner{s: doc} }

// Bad reports whether the text read so far is not valid JSON.
func (sc *Scanner) Bad() bool { return sc.bad }

// TooDeep reports whether the scanner is Bad because the text nests arrays
// and objects deeper than MaxDepth, which encoding/json refuses too, rather
// than because it is malformed: callers can then say which.
func (sc *Scanner) TooDeep() bool { return sc.tooDeep }

// Pos is the scanner's offset in the text: after Peek, that of the next
// value's first byte; after Value or a finished walk, just past its end.
func (sc *Scanner) Pos() int { return sc.i }

// Slice is the text from offset start to the scanner's position, such as
// a container walked since Pos gave start.
func (sc *Scanner) Slice(start int) string { return sc.s[start:sc.i] }

func (sc *Scanner) fail() {
	sc.bad = true
	sc.i = len(sc.s)
}

// spaceBits has bit c set for each JSON whitespace byte c.
const spaceBits = 1<<' ' | 1<<'\n' | 1<<'\t' | 1<<'\r'

func (sc *Scanner) skipSpace() {
	s, i := sc.s, sc.i // locals stay in registers in the loop
	for i < len(s) && s[i] <= ' ' && spaceBits>>s[i]&1 != 0 {
		i++
	}
	sc.i = i
}

// Peek returns the next byte after whitespace, or 0 at the end (or at a NUL
// byte, which is just as invalid where a value is due).
func (sc *Scanner) Peek() byte {
	// Inlined: in compact JSON the next byte is never whitespace.
	if sc.i < len(sc.s) && sc.s[sc.i] > ' ' {
		return sc.s[sc.i]
	}
	return sc.peekPastSpace()
}

func (sc *Scanner) peekPastSpace() byte {
	sc.skipSpace()
	if sc.i == len(sc.s) {
		return 0
	}
	return sc.s[sc.i]
}

// End checks that nothing but whitespace follows the document.
func (sc *Scanner) End() {
	if sc.skipSpace(); sc.i != len(sc.s) {
		sc.fail()
	}
}

// enter and leave track the nesting depth of containers.
func (sc *Scanner) enter() {
	if sc.depth++; sc.depth > MaxDepth {
		sc.tooDeep = true
		sc.fail()
	}
}

func (sc *Scanner) leave() { sc.depth-- }

// Value reads one value, containers validated in full. It returns the zero
// Value once the scanner is Bad.
func (sc *Scanner) Value() Value {
	c := sc.Peek()
	start := sc.i
	v := Value{}
	switch {
	case c == '"':
		end, escaped := stringEnd(sc.s, start)
		if end < 0 {
			sc.fail()
			return Value{}
		}
		sc.i = end
		return Value{Raw: sc.s[start:end], Kind: String, Escaped: escaped}
	case c == '{':
		v.Kind = Object
		it := sc.object()
		for it.Next(sc) {
			sc.Value()
		}
	case c == '[':
		v.Kind = Array
		it := sc.Array()
		for it.Next(sc) {
			sc.Value()
		}
	case c == '-' || '0' <= c && c <= '9':
		v.Kind = Number
		sc.number()
	case c == 't':
		v.Kind = Bool
		sc.literal("true")
	case c == 'f':
		v.Kind = Bool
		sc.literal("false")
	case c == 'n':
		v.Kind = Null
		sc.literal("null")
	default:
		sc.fail()
	}
	if sc.bad {
		return Value{}
	}
	v.Raw = sc.s[start:sc.i]
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

// stringEnd reads the string at the opening quote s[i] and returns the
// offset just past its closing quote, or -1 when it is not a valid string,
// and whether it holds escapes. UTF-8 is not checked here: the caller has
// made the whole document valid UTF-8. It takes and returns the offset
// rather than moving a Scanner so that callers keep it in a register.
//
// Strings are most of a typical event's text, so the plain runs between
// quotes, backslashes and control characters are skipped eight bytes at a
// time with the classic SWAR tests: (x - 0x01…01) & ^x & 0x80…80 flags the
// zero bytes of x, (x - n·0x01…01) & ^x & 0x80…80 the bytes below n. A flag
// can be spurious only above a genuine one, so the lowest flag is exact.
func stringEnd(s string, i int) (end int, escaped bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	base := unsafe.Pointer(unsafe.StringData(s)) // read only
	for i++; ; {
		for ; i+8 <= len(s); i += 8 {
			x := binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(base, i))[:]) // in bounds: no check
			q, bs := x^('"'*ones), x^('\\'*ones)
			// ^q and ^bs have the high bits of ^x: the three tests share one mask.
			if flags := ((x - 0x20*ones) | (q - ones) | (bs - ones)) & ^x & highs; flags != 0 {
				i += bits.TrailingZeros64(flags) / 8 // exact: s[i] ends the run
				goto stop
			}
		}
		for i < len(s) && !stringStop[s[i]] { // the last few bytes
			i++
		}
		if i == len(s) {
			return -1, false
		}
	stop:
		switch s[i] {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			n := escapeLen(s[i:])
			if n == 0 {
				return -1, false
			}
			i += n
		default: // a control character
			return -1, false
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
func (sc *Scanner) number() {
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

func (sc *Scanner) literal(word string) {
	if len(sc.s)-sc.i < len(word) || sc.s[sc.i:sc.i+len(word)] != word {
		sc.fail()
		return
	}
	sc.i += len(word)
}

// ValueOf is the Value of one JSON value's text that the caller wrote and
// knows to be valid, telling its kind from its first byte rather than
// scanning it.
func ValueOf(raw string) Value {
	if raw == "" {
		return Value{}
	}
	switch raw[0] {
	case '"':
		return Value{Raw: raw, Kind: String, Escaped: strings.IndexByte(raw, '\\') >= 0}
	case '{':
		return Value{Raw: raw, Kind: Object}
	case '[':
		return Value{Raw: raw, Kind: Array}
	case 't', 'f':
		return Value{Raw: raw, Kind: Bool}
	case 'n':
		return Value{Raw: raw, Kind: Null}
	}
	return Value{Raw: raw, Kind: Number}
}
