package jsonscan

// Members walks an object's members. After Next returns true the scanner
// stands before the member's value, which the caller must read (with Value
// or by walking it) before calling Next again. It holds no pointer to the
// scanner: Go's escape analysis does not tell fields apart, and a pointer
// beside the key would send the scanner to the heap with every key stored.
type Members struct {
	first bool
	key   Value // the member's name as a JSON string
	keyAt int   // the key's offset in the text
}

// Object starts walking the object at the scanner's position; anything but
// an object there makes the scanner Bad.
func (sc *Scanner) Object() Members {
	if sc.Peek() != '{' {
		sc.fail()
		return Members{}
	}
	return sc.object()
}

// object is Object at a brace already peeked; Value walks objects with it
// inlined.
func (sc *Scanner) object() Members {
	sc.i++
	sc.enter()
	return Members{first: true}
}

// Next moves to the next member, or past the closing brace and returns
// false at the end of the object or once the scanner is Bad.
func (it *Members) Next(sc *Scanner) bool {
	// nextItem inlined, with the key's quote: members are most of a document.
	c := sc.Peek()
	switch {
	case c == '}':
		sc.i++
		sc.leave()
		return false
	case it.first:
		it.first = false
	case c == ',':
		sc.i++
		c = sc.Peek()
	default:
		sc.fail()
		return false
	}
	if c != '"' {
		sc.fail()
		return false
	}
	start := sc.i
	end, escaped := stringEnd(sc.s, start)
	if end < 0 {
		sc.fail()
		return false
	}
	it.keyAt, it.key = start, Value{Raw: sc.s[start:end], Kind: String, Escaped: escaped}
	if end < len(sc.s) && sc.s[end] == ':' { // compact JSON
		sc.i = end + 1
		return true
	}
	if sc.i = end; sc.Peek() != ':' {
		sc.fail()
		return false
	}
	sc.i++
	return true
}

// NextValue is Next followed by the member's Value, for walks that read
// every value: a string value, the commonest, is read without a second call.
func (it *Members) NextValue(sc *Scanner) (Value, bool) {
	if !it.Next(sc) {
		return Value{}, false
	}
	// stringEnd called here, as in Value: a helper both shared would cost
	// a call, too big to inline. A bad string falls to Value to fail.
	if i := sc.i; i < len(sc.s) && sc.s[i] == '"' {
		if end, escaped := stringEnd(sc.s, i); end > 0 {
			sc.i = end
			return Value{Raw: sc.s[i:end], Kind: String, Escaped: escaped}, true
		}
	}
	return sc.Value(), true
}

// Key is the current member's name as written, quotes included.
func (it *Members) Key() Value { return it.key }

// KeyPos is the offset of the current member's key in the text.
func (it *Members) KeyPos() int { return it.keyAt }

// Name is the current member's name, unescaped. (Not it.key.Text(): Name
// is small enough to inline, and Text is not.)
func (it *Members) Name() string {
	if it.key.Escaped {
		return unescape(it.key.Raw)
	}
	return it.key.Raw[1 : len(it.key.Raw)-1]
}

// Elements walks an array's elements. After Next returns true the scanner
// stands before the element, which the caller must read before calling Next
// again.
type Elements struct {
	first bool
}

// Array starts walking the array at the scanner's position; anything but an
// array there makes the scanner Bad.
func (sc *Scanner) Array() Elements {
	if sc.Peek() != '[' {
		sc.fail()
		return Elements{}
	}
	sc.i++
	sc.enter()
	return Elements{first: true}
}

// Next moves to the next element, or past the closing bracket and returns
// false at the end of the array or once the scanner is Bad.
func (it *Elements) Next(sc *Scanner) bool {
	return sc.nextItem(&it.first, ']')
}

// nextItem moves past the comma before a container's next item, or past its
// closing byte, when it returns false; the first item has no comma.
func (sc *Scanner) nextItem(first *bool, closing byte) bool {
	c := sc.Peek()
	if c == closing {
		sc.i++
		sc.leave()
		return false
	}
	if !*first {
		if c != ',' {
			sc.fail()
			return false
		}
		sc.i++
	}
	*first = false
	return true
}
