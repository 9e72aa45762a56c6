package jsonscan

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// scanDocument reads one whole document and returns its value, or ok=false
// where the scanner finds invalid JSON.
func scanDocument(doc string) (Value, bool) {
	sc := New(doc)
	v := sc.Value()
	sc.End()
	return v, !sc.Bad()
}

// The scanner must accept exactly what encoding/json accepts, which is what
// Benthos parses messages with.
func TestScannerAcceptsWhatEncodingJSONAccepts(t *testing.T) {
	docs := []string{
		``, ` `, `{}`, ` { } `, `[]`, `[ ]`, `[1,]`, `[,1]`, `[1 2]`, `[1,,2]`, `[`, `[1`, `]`, `{`, `}`, `{"a"`, `{"a":1`, `{"a":1,`,
		`{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":1]`, `[1}`,
		`{"a":{"b":[1,{"c":null}]}}`, `{"a":1}x`, `{"a":1}{}`, `{"a":1}` + "\x00", `""` + "\x00", "\x00",
		`"abc"`, `"abc`, `"a\"b"`, `"a\\"`, `"a\/b"`, `"\b\f\n\r\t"`, `"\x"`, `"\'"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u00e"`, `"\`,
		"\"a\tb\"", "\"a\nb\"", "\"a\x1fb\"", "\"a\x7fb\"", `"é"`, `"ud800"`, `"\ud800"`, `"\ud800\u0041"`,
		`0`, `-0`, `01`, `-`, `-a`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1e5`, `1E-5`, `1.5e+10`, `-12.34e-56`, `1e5.5`, `+1`, `0x10`,
		`true`, `tru`, `trUe`, `false`, `fals`, `null`, `nul`, `nulll`, `True`, `NaN`,
		" \t\r\n1 \t\r\n", "\f1", "\v1",
	}
	// Each special byte at every position of the first sixteen, so each lane
	// of the eight-byte string test meets each of them.
	for i := range 16 {
		pad := strings.Repeat("x", i)
		for _, special := range []string{`"`, `\\`, `\"`, `\u0041`, "\x00", "\x01", "\x1f", "\t", " ", "\x7f", "é", `\q`} {
			docs = append(docs, `"`+pad+special+`yyyyyyyyyyyyyyyy"`, `{"`+pad+special+`":1}`)
		}
	}
	for _, depth := range []int{MaxDepth, MaxDepth + 1} {
		docs = append(docs,
			strings.Repeat("[", depth)+strings.Repeat("]", depth),
			strings.Repeat(`{"a":`, depth-1)+`{}`+strings.Repeat("}", depth-1))
	}
	for _, doc := range docs {
		v, ok := scanDocument(doc)
		want := json.Valid([]byte(doc))
		name := doc
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		if ok != want {
			t.Errorf("%q: scanner valid=%v, encoding/json valid=%v", name, ok, want)
		}
		if ok && v.Raw != strings.Trim(doc, " \t\r\n") {
			t.Errorf("%q: value text %q", name, v.Raw)
		}
	}
}

func TestValuesHaveTheirKindAndText(t *testing.T) {
	cases := []struct {
		raw     string
		kind    Kind
		text    string
		escaped bool
	}{
		{`"abc"`, String, "abc", false},
		{`""`, String, "", false},
		{`"a\u00e9"`, String, "aé", true},
		{`-1.5e3`, Number, "-1.5e3", false},
		{`0`, Number, "0", false},
		{`true`, Bool, "", false},
		{`false`, Bool, "", false},
		{`null`, Null, "", false},
		{`{"a":1}`, Object, "", false},
		{`[1,"b"]`, Array, "", false},
	}
	for _, c := range cases {
		sc := New(" " + c.raw + " ")
		v := sc.Value()
		if sc.End(); sc.Bad() {
			t.Fatalf("%s rejected", c.raw)
		}
		if v.Raw != c.raw || v.Kind != c.kind || v.Text() != c.text || v.Escaped != c.escaped {
			t.Errorf("%s: got %+v text %q, want kind %d text %q escaped %v", c.raw, v, v.Text(), c.kind, c.text, c.escaped)
		}
	}
	if v := (Value{}); v.Kind != Absent || v.Text() != "" {
		t.Errorf("zero value %+v is not absent", v)
	}
}

func TestABadScannerStaysBadAndReturnsNothing(t *testing.T) {
	sc := New(`[1,x] "more"`)
	if v := sc.Value(); v != (Value{}) || !sc.Bad() {
		t.Fatalf("got %+v, bad=%v", v, sc.Bad())
	}
	if sc.Pos() != len(`[1,x] "more"`) || sc.Peek() != 0 {
		t.Errorf("a bad scanner stands at %d, not at the end", sc.Pos())
	}
	if v := sc.Value(); v != (Value{}) || !sc.Bad() {
		t.Errorf("read %+v after the error", v)
	}
	for it := sc.Object(); it.Next(&sc); {
		t.Error("walked an object after the error")
	}
	for it := sc.Array(); it.Next(&sc); {
		t.Error("walked an array after the error")
	}
}

func TestObjectMembersAreReadWithTheirNamesAndValues(t *testing.T) {
	// Spaced and compact members both, as Members.Next reads them differently.
	sc := New(` { "a" : 1 , "b\u0063":"x" ,"d":{"e":[1, 2]},"f": null}`)
	var got []string
	sc.Peek()
	start := sc.Pos()
	for it := sc.Object(); it.Next(&sc); {
		if key := sc.s[it.KeyPos():]; !strings.HasPrefix(key, it.Key().Raw) {
			t.Errorf("key %s is not at its offset %d: %q", it.Key().Raw, it.KeyPos(), key)
		}
		v := sc.Value()
		got = append(got, it.Key().Raw+"="+it.Name()+"="+v.Raw)
	}
	if whole := sc.Slice(start); whole != strings.TrimSpace(sc.s) {
		t.Errorf("walked text %q", whole)
	}
	if sc.End(); sc.Bad() {
		t.Fatal("valid object rejected")
	}
	want := []string{`"a"=a=1`, `"b\u0063"=bc="x"`, `"d"=d={"e":[1, 2]}`, `"f"=f=null`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestNextValueReadsWhatNextThenValueRead(t *testing.T) {
	for _, doc := range []string{
		` { "a" : 1 , "b\u0063":"x" ,"d":{"e":[1, 2]},"f": null,"g":"y","h":"\"q\""}`,
		`{"a":"unterminated}`, `{"a":"x" "b":1}`, `{"a":"\q"}`, `{}`,
	} {
		walk := func(next func(*Members, *Scanner) (Value, bool)) (got []string, bad bool) {
			sc := New(doc)
			it := sc.Object()
			for v, ok := next(&it, &sc); ok; v, ok = next(&it, &sc) {
				got = append(got, fmt.Sprintf("%s=%s kind %d escaped %v", it.Key().Raw, v.Raw, v.Kind, v.Escaped))
			}
			sc.End()
			return got, sc.Bad()
		}
		want, wantBad := walk(func(it *Members, sc *Scanner) (Value, bool) {
			if !it.Next(sc) {
				return Value{}, false
			}
			return sc.Value(), true
		})
		got, gotBad := walk((*Members).NextValue)
		if strings.Join(got, " ") != strings.Join(want, " ") || gotBad != wantBad {
			t.Errorf("%s: NextValue read %q (bad %v), Next and Value %q (bad %v)", doc, got, gotBad, want, wantBad)
		}
	}
}

func TestArrayElementsAreReadAtTheirOffsets(t *testing.T) {
	doc := `[ {"a":[]} ,"x",3,[true] ]`
	sc := New(doc)
	var got []string
	for it := sc.Array(); it.Next(&sc); {
		sc.Peek()
		start := sc.Pos()
		v := sc.Value()
		if doc[start:sc.Pos()] != v.Raw {
			t.Errorf("offsets %d..%d hold %q, not %q", start, sc.Pos(), doc[start:sc.Pos()], v.Raw)
		}
		got = append(got, v.Raw)
	}
	if sc.End(); sc.Bad() {
		t.Fatal("valid array rejected")
	}
	if want := []string{`{"a":[]}`, `"x"`, `3`, `[true]`}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWalkingTheWrongContainerFails(t *testing.T) {
	for _, c := range []struct {
		doc    string
		object bool
	}{{`[1]`, true}, {`"a"`, true}, {``, true}, {`{"a":1}`, false}, {`1`, false}} {
		sc := New(c.doc)
		if c.object {
			for it := sc.Object(); it.Next(&sc); {
				sc.Value()
			}
		} else {
			for it := sc.Array(); it.Next(&sc); {
				sc.Value()
			}
		}
		if !sc.Bad() {
			t.Errorf("%q walked as an object=%v", c.doc, c.object)
		}
	}
}

// Escaped strings must decode as encoding/json decodes them, lone
// surrogates included, so that callers read what Benthos reads.
func TestStringsDecodeLikeEncodingJSON(t *testing.T) {
	for _, raw := range []string{`"plain"`, `"a\"b\\c\/d"`, `"\u00e9\n"`, `"\ud83d\ude00"`, `"\ud800"`, `"\ud800\u0041"`, `"\ud800\ud800\udc00"`, `"\udc00x"`} {
		sc := New(raw)
		v := sc.Value()
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil || sc.Bad() {
			t.Fatalf("%s: %v / bad=%v", raw, err, sc.Bad())
		}
		if got := v.Text(); got != want {
			t.Errorf("%s: text %q, want %q", raw, got, want)
		}
	}
}

func FuzzScannerAcceptsWhatEncodingJSONAccepts(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u0041"],"b":{"c":null}}`, `""` + "\x00", `[1,]`, `"\ud800\u0041"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if !utf8.ValidString(doc) {
			return // callers check UTF-8 before scanning
		}
		v, ok := scanDocument(doc)
		if want := json.Valid([]byte(doc)); ok != want {
			t.Fatalf("%q: scanner valid=%v, encoding/json valid=%v", doc, ok, want)
		}
		if !ok {
			return
		}
		if v.Raw != strings.Trim(doc, " \t\r\n") {
			t.Fatalf("%q: value text %q", doc, v.Raw)
		}
		var s string
		if json.Unmarshal([]byte(v.Raw), &s) == nil {
			if got := v.Text(); got != s {
				t.Fatalf("%q: text %q, want %q", doc, got, s)
			}
		}
	})
}

// Callers tell a document nested too deep from a malformed one, to say
// which in their errors.
func TestTooDeepTellsNestingPastMaxDepthFromMalformedText(t *testing.T) {
	cases := []struct {
		name, doc    string
		bad, tooDeep bool
	}{
		{"arrays at MaxDepth", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), false, false},
		{"arrays past MaxDepth", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), true, true},
		{"objects past MaxDepth", strings.Repeat(`{"a":`, MaxDepth) + `{}` + strings.Repeat("}", MaxDepth), true, true},
		{"unclosed past MaxDepth", strings.Repeat("[", MaxDepth+1), true, true},
		{"malformed before MaxDepth is reached", `[x` + strings.Repeat("[", MaxDepth+1), true, false},
		{"malformed and shallow", `{"a":}`, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := New(c.doc)
			sc.Value()
			sc.End()
			if sc.Bad() != c.bad || sc.TooDeep() != c.tooDeep {
				t.Errorf("Bad=%v TooDeep=%v, want %v and %v", sc.Bad(), sc.TooDeep(), c.bad, c.tooDeep)
			}
		})
	}
}

func TestValueOfTellsTheKindOfValidJSONAsTheScannerDoes(t *testing.T) {
	for _, raw := range []string{`"a"`, `"a\"b"`, `{"k":[1]}`, `[]`, `true`, `false`, `null`, `-1.5e3`, `0`} {
		sc := New(raw)
		if got, want := ValueOf(raw), sc.Value(); got != want {
			t.Errorf("ValueOf(%s) = %+v, the scanner reads %+v", raw, got, want)
		}
	}
	if got := ValueOf(""); got != (Value{}) {
		t.Errorf("ValueOf of nothing = %+v, want Absent", got)
	}
}
