package mapping

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// scanDocument reads one whole document and returns the value's text, or
// ok=false where the scanner finds invalid JSON.
func scanDocument(doc string) (string, bool) {
	sc := scanner{s: doc}
	v := sc.value()
	sc.end()
	return v.raw, !sc.bad
}

// The scanner must accept exactly what encoding/json accepts, which is what
// Benthos parses messages with.
func TestScannerAcceptsWhatEncodingJSONAccepts(t *testing.T) {
	docs := []string{
		``, ` `, `{}`, ` { } `, `[]`, `[ ]`, `[1,]`, `[,1]`, `[1 2]`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":}`, `{"a":1 "b":2}`, `{1:2}`,
		`{"a":{"b":[1,{"c":null}]}}`, `{"a":1}x`, `{"a":1}{}`, `{"a":1}` + "\x00", `""` + "\x00", "\x00",
		`"abc"`, `"abc`, `"a\"b"`, `"a\\"`, `"a\/b"`, `"\b\f\n\r\t"`, `"\x"`, `"\'"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u00e"`, `"\`,
		"\"a\tb\"", "\"a\nb\"", "\"a\x1fb\"", "\"a\x7fb\"", `"é"`, `"ud800"`, `"\ud800"`, `"\ud800\u0041"`,
		`0`, `-0`, `01`, `-`, `-a`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1e5`, `1E-5`, `1.5e+10`, `-12.34e-56`, `1e5.5`, `+1`, `0x10`,
		`true`, `tru`, `trUe`, `false`, `fals`, `null`, `nul`, `nulll`, `True`, `NaN`,
	}
	// Each special byte at every position of the first sixteen, so each lane
	// of the eight-byte string test meets each of them.
	for i := range 16 {
		pad := strings.Repeat("x", i)
		for _, special := range []string{`"`, `\\`, `\"`, `\u0041`, "\x00", "\x01", "\x1f", "\t", " ", "\x7f", "é", `\q`} {
			docs = append(docs, `"`+pad+special+`yyyyyyyyyyyyyyyy"`, `{"`+pad+special+`":1}`)
		}
	}
	for _, depth := range []int{maxDepth, maxDepth + 1} {
		docs = append(docs,
			strings.Repeat("[", depth)+strings.Repeat("]", depth),
			strings.Repeat(`{"a":`, depth-1)+`{}`+strings.Repeat("}", depth-1))
	}
	for _, doc := range docs {
		raw, ok := scanDocument(doc)
		want := json.Valid([]byte(doc))
		name := doc
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		if ok != want {
			t.Errorf("%q: scanner valid=%v, encoding/json valid=%v", name, ok, want)
		}
		if ok && raw != strings.TrimSpace(doc) {
			t.Errorf("%q: value text %q", name, raw)
		}
	}
}

func TestObjectMembersAreReadWithTheirNamesAndValues(t *testing.T) {
	sc := scanner{s: ` { "a" : 1 , "b\u0063":"x" ,"d":{"e":[1, 2]}, "f": null}`}
	var got []string
	sc.peek()
	for it := sc.object(); it.next(&sc); {
		v := sc.value()
		got = append(got, it.key.raw+"="+it.name()+"="+v.raw)
	}
	if sc.end(); sc.bad {
		t.Fatal("valid object rejected")
	}
	want := []string{`"a"=a=1`, `"b\u0063"=bc="x"`, `"d"=d={"e":[1, 2]}`, `"f"=f=null`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// Escaped strings must decode as Benthos decodes them, lone surrogates
// included, or the two paths would hash and name differently.
func TestStringsDecodeLikeEncodingJSON(t *testing.T) {
	for _, raw := range []string{`"plain"`, `"a\"b\\c\/d"`, `"\u00e9\n"`, `"\ud83d\ude00"`, `"\ud800"`, `"\ud800\u0041"`, `"\ud800\ud800\udc00"`, `"\udc00x"`} {
		sc := scanner{s: raw}
		v := sc.value()
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil || sc.bad {
			t.Fatalf("%s: %v / bad=%v", raw, err, sc.bad)
		}
		if got := v.text(); got != want {
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
			return // the raw path replaces invalid UTF-8 before scanning
		}
		raw, ok := scanDocument(doc)
		if want := json.Valid([]byte(doc)); ok != want {
			t.Fatalf("%q: scanner valid=%v, encoding/json valid=%v", doc, ok, want)
		}
		if !ok {
			return
		}
		if raw != strings.TrimSpace(doc) {
			t.Fatalf("%q: value text %q", doc, raw)
		}
		var s string
		if json.Unmarshal([]byte(raw), &s) == nil {
			sc := scanner{s: raw}
			if got := sc.value().text(); got != s {
				t.Fatalf("%q: text %q, want %q", doc, got, s)
			}
		}
	})
}
