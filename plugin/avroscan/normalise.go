package avroscan

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hamba/avro/v2"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// Braze's storage export writes each event as one flat record; its Custom HTTP
// connector sends the same event as
//
//	{"event_type": ..., "id": ..., "time": ..., "user": {...}, "properties": {...}}
//
// The normaliser rewrites the first form into the second so one mapping serves
// both sources. Columns are placed by name: id and time at the top, the
// columns below in user, every other column in properties.
var userColumns = map[string]bool{
	"user_id":          true,
	"external_user_id": true,
	"device_id":        true,
	"timezone":         true,
}

// embeddedObjectColumn is the column holding custom event and purchase
// properties as a JSON-encoded string; the Custom HTTP connector sends them as
// an object under the key named here per event type.
const embeddedObjectColumn = "properties"

var embeddedObjectKeys = map[string]string{
	"users.behaviors.CustomEvent": "custom_properties",
	"users.behaviors.Purchase":    "purchase_properties",
}

type destination uint8

const (
	toTop destination = iota
	toUser
	toProperties
)

// valueWriter reads one Avro value of a fixed schema from r and appends its
// JSON form to dst. A writer only walks the schema, so no value goes through
// an intermediate map or interface.
type valueWriter func(dst []byte, r *decoder) []byte

// column is one record field. A union column has one writer per branch, nil
// for the null branch; any other column has a single writer and no branch
// index on the wire.
type column struct {
	dest     destination
	key      []byte // `"name":`, JSON-escaped once
	name     string // the member's name: the field's, or embeddedObjectKeys'
	union    bool
	branches []valueWriter
	// embeddedObject marks the properties column of custom events and
	// purchases: a string whose JSON object is spliced into the event.
	embeddedObject bool
	// plain marks a property the mapping of plainFor copies as it is.
	plain bool
}

// normaliser converts the records of one writer schema. It reuses its scratch
// buffers, so it serves one goroutine.
type normaliser struct {
	prefix  []byte // `{"event_type":"<type>"`
	columns []column
	user    []byte
	props   []byte

	// For mapEvent: the event type as a JSON value, the mapping's state
	// and the members' texts.
	eventType jsonscan.Value
	decoded   currentsmap.Decoded
	vals      []byte
	plainFor  *currentsmap.Mapper // the mapper the columns' plain flags are for
}

func newNormaliser(rec *avro.RecordSchema, eventType string) (*normaliser, error) {
	n := &normaliser{prefix: appendName([]byte(`{"event_type":`), eventType)}
	n.eventType = jsonscan.ValueOf(string(n.prefix[len(`{"event_type":`):]))
	named := map[string]*valueWriter{}
	for _, f := range rec.Fields() {
		c, err := compileColumn(f, named)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name(), err)
		}
		name := f.Name()
		switch {
		case name == "id" || name == "time":
			c.dest = toTop
		case userColumns[name]:
			c.dest = toUser
		default:
			c.dest = toProperties
		}
		if key, ok := embeddedObjectKeys[eventType]; ok && name == embeddedObjectColumn && isStringColumn(f.Type()) {
			c.embeddedObject = true
			c.key = appendName(nil, key)
			c.key = append(c.key, ':')
			c.name = key
		}
		n.columns = append(n.columns, c)
	}
	return n, nil
}

// appendEvent decodes one record from r and appends its event JSON to dst.
// Decoding errors are left in r.Error for the caller, which knows the block
// and record. A properties string that is not a JSON object does not fail the
// record, which is still a valid event for Amplitude: it is kept verbatim as a
// JSON string and reported as propsErr.
func (n *normaliser) appendEvent(dst []byte, r *decoder) (out []byte, propsErr error) {
	n.user, n.props = n.user[:0], n.props[:0]
	dst = append(dst, n.prefix...)
	for i := range n.columns {
		c := &n.columns[i]
		w, present := c.writer(r)
		if !present {
			continue
		}
		buf := &dst
		switch c.dest {
		case toUser:
			buf = &n.user
		case toProperties:
			buf = &n.props
		}
		if c.embeddedObject {
			*buf, propsErr = appendEmbeddedObject(*buf, c.key, r.readString(), &r.invalidUTF8)
			continue
		}
		*buf = append(*buf, ',')
		*buf = append(*buf, c.key...)
		*buf = w(*buf, r)
	}
	dst = append(dst, `,"user":{`...)
	dst = appendMembers(dst, n.user)
	dst = append(dst, `},"properties":{`...)
	dst = appendMembers(dst, n.props)
	return append(dst, "}}"...), propsErr
}

// writer reads the union branch index of c, if any, and returns the writer of
// the value that follows; present is false for null branches, which Braze
// uses for "no value" and which become absent members.
func (c *column) writer(r *decoder) (w valueWriter, present bool) {
	if !c.union {
		return c.branches[0], true
	}
	i := r.readLong()
	if i < 0 || i >= int64(len(c.branches)) {
		r.fail(fmt.Errorf("union branch index %d out of range", i))
		return nil, false
	}
	return c.branches[i], c.branches[i] != nil
}

// appendMembers appends members written as `,"k":v,"k":v` without the first comma.
func appendMembers(dst, members []byte) []byte {
	if len(members) == 0 {
		return dst
	}
	return append(dst, members[1:]...)
}

// appendEmbeddedObject appends `,"key":<object>` for a JSON-encoded properties
// string. An empty or null string means the event has no properties.
func appendEmbeddedObject(dst, key []byte, s string, invalid *bool) ([]byte, error) {
	if !hasEmbeddedObject(s) {
		return dst, nil
	}
	dst = append(dst, ',')
	dst = append(dst, key...)
	return appendEmbeddedValue(dst, key, s, invalid)
}

// hasEmbeddedObject is false for a properties string that is empty or null.
func hasEmbeddedObject(s string) bool {
	trimmed := strings.TrimSpace(s)
	return trimmed != "" && trimmed != "null"
}

// appendEmbeddedValue appends the object a properties string holds,
// compacted; a string that is not a JSON object is kept as a JSON string,
// with an error naming the member (key is `"name":`). Either way it sets
// *invalid when s is not UTF-8, as appendJSONString does.
func appendEmbeddedValue(dst, key []byte, s string, invalid *bool) ([]byte, error) {
	trimmed := strings.TrimSpace(s)
	var err error
	if trimmed[0] == '{' {
		buf := bytes.NewBuffer(dst)
		if err = json.Compact(buf, []byte(trimmed)); err == nil {
			// Compact keeps the bytes of strings as they are.
			if !utf8.ValidString(trimmed) {
				*invalid = true
			}
			return buf.Bytes(), nil
		}
	} else {
		err = errors.New("not a JSON object")
	}
	name := string(key[:len(key)-1])
	return appendJSONString(dst, s, invalid), fmt.Errorf("%s kept as a string: %w", name, err)
}

func isStringColumn(s avro.Schema) bool {
	if u, ok := s.(*avro.UnionSchema); ok {
		for _, t := range u.Types() {
			if t.Type() != avro.Null && t.Type() != avro.String {
				return false
			}
		}
		return true
	}
	return s.Type() == avro.String
}

func compileColumn(f *avro.Field, named map[string]*valueWriter) (column, error) {
	c := column{key: append(appendName(nil, f.Name()), ':'), name: f.Name()}
	if u, ok := f.Type().(*avro.UnionSchema); ok {
		c.union = true
		for _, t := range u.Types() {
			if t.Type() == avro.Null {
				c.branches = append(c.branches, nil)
				continue
			}
			w, err := compileValue(t, named)
			if err != nil {
				return c, err
			}
			c.branches = append(c.branches, w)
		}
		return c, nil
	}
	w, err := compileValue(f.Type(), named)
	c.branches = []valueWriter{w}
	return c, err
}

// compileValue returns the writer of one schema. Nested records follow the
// top-level rule (null union members are absent); array items and map values
// keep their nulls, as their positions and keys carry meaning. Logical types
// are written as their underlying Avro value, bytes and fixed as base64.
func compileValue(s avro.Schema, named map[string]*valueWriter) (valueWriter, error) {
	switch s.Type() {
	case avro.Null:
		return func(dst []byte, _ *decoder) []byte { return append(dst, "null"...) }, nil
	case avro.Boolean:
		return func(dst []byte, r *decoder) []byte { return strconv.AppendBool(dst, r.readBool()) }, nil
	case avro.Int:
		return func(dst []byte, r *decoder) []byte { return strconv.AppendInt(dst, int64(r.readInt()), 10) }, nil
	case avro.Long:
		return func(dst []byte, r *decoder) []byte { return strconv.AppendInt(dst, r.readLong(), 10) }, nil
	case avro.Float:
		return func(dst []byte, r *decoder) []byte { return appendFloat(dst, float64(r.readFloat()), 32) }, nil
	case avro.Double:
		return func(dst []byte, r *decoder) []byte { return appendFloat(dst, r.readDouble(), 64) }, nil
	case avro.String:
		return appendStringValue, nil
	case avro.Bytes:
		return func(dst []byte, r *decoder) []byte { return appendBase64(dst, r.readBytes()) }, nil
	case avro.Fixed:
		size := s.(*avro.FixedSchema).Size()
		return func(dst []byte, r *decoder) []byte { return appendBase64(dst, r.next(size)) }, nil
	case avro.Enum:
		return compileEnum(s.(*avro.EnumSchema)), nil
	case avro.Array:
		return compileArray(s.(*avro.ArraySchema), named)
	case avro.Map:
		return compileMap(s.(*avro.MapSchema), named)
	case avro.Union:
		return compileUnion(s.(*avro.UnionSchema), named)
	case avro.Record:
		return compileRecord(s.(*avro.RecordSchema), named)
	case avro.Ref:
		// A reference names a record compiled further up, possibly the one
		// that contains it, so the writer is looked up when it runs.
		p, ok := named[s.(*avro.RefSchema).Schema().FullName()]
		if !ok {
			return nil, fmt.Errorf("reference to unknown type %s", s.(*avro.RefSchema).Schema().FullName())
		}
		return func(dst []byte, r *decoder) []byte { return (*p)(dst, r) }, nil
	default:
		return nil, fmt.Errorf("unsupported Avro type %s", s.Type())
	}
}

func compileEnum(s *avro.EnumSchema) valueWriter {
	symbols := make([][]byte, len(s.Symbols()))
	for i, sym := range s.Symbols() {
		symbols[i] = appendName(nil, sym)
	}
	return func(dst []byte, r *decoder) []byte {
		i := r.readInt()
		if i < 0 || int(i) >= len(symbols) {
			r.fail(fmt.Errorf("enum symbol index %d out of range", i))
			return dst
		}
		return append(dst, symbols[i]...)
	}
}

// Arrays and maps are read block by block, stopping at the first error
// rather than calling back for every item a corrupt block header announces.
func compileArray(s *avro.ArraySchema, named map[string]*valueWriter) (valueWriter, error) {
	items, err := compileValue(s.Items(), named)
	if err != nil {
		return nil, err
	}
	return func(dst []byte, r *decoder) []byte {
		return append(appendBlocks(append(dst, '['), r, items), ']')
	}, nil
}

func compileMap(s *avro.MapSchema, named map[string]*valueWriter) (valueWriter, error) {
	values, err := compileValue(s.Values(), named)
	if err != nil {
		return nil, err
	}
	entry := func(dst []byte, r *decoder) []byte {
		dst = append(appendStringValue(dst, r), ':')
		return values(dst, r)
	}
	return func(dst []byte, r *decoder) []byte {
		return append(appendBlocks(append(dst, '{'), r, entry), '}')
	}, nil
}

// appendBlocks writes the items of an array or the entries of a map, comma
// separated, reading its blocks until the empty one that ends it.
func appendBlocks(dst []byte, r *decoder, item valueWriter) []byte {
	first := true
	for {
		n := r.readBlockCount()
		if n <= 0 || r.err != nil {
			return dst
		}
		for ; n > 0 && r.err == nil; n-- {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = item(dst, r)
		}
	}
}

func compileUnion(s *avro.UnionSchema, named map[string]*valueWriter) (valueWriter, error) {
	c := column{union: true}
	for _, t := range s.Types() {
		w, err := compileValue(t, named)
		if err != nil {
			return nil, err
		}
		c.branches = append(c.branches, w)
	}
	return func(dst []byte, r *decoder) []byte {
		if w, ok := c.writer(r); ok {
			return w(dst, r)
		}
		return dst
	}, nil
}

func compileRecord(s *avro.RecordSchema, named map[string]*valueWriter) (valueWriter, error) {
	self := new(valueWriter)
	named[s.FullName()] = self
	columns := make([]column, 0, len(s.Fields()))
	for _, f := range s.Fields() {
		c, err := compileColumn(f, named)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name(), err)
		}
		columns = append(columns, c)
	}
	*self = func(dst []byte, r *decoder) []byte {
		dst = append(dst, '{')
		mark := len(dst)
		for i := range columns {
			c := &columns[i]
			w, present := c.writer(r)
			if !present {
				continue
			}
			if len(dst) > mark {
				dst = append(dst, ',')
			}
			dst = append(dst, c.key...)
			dst = w(dst, r)
		}
		return append(dst, '}')
	}
	return *self, nil
}

// appendFloat formats like encoding/json: the shortest decimal that reads back
// as the same float of the given size, so a 32-bit 3.14 is written as 3.14 and
// not as its 64-bit widening 3.140000104904175. JSON has no NaN or infinity;
// they are written as null.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// 1e-07 -> 1e-7, as encoding/json writes it.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

func appendBase64(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// plainByte marks the bytes a JSON string holds as they are: printable
// ASCII other than the quote and the backslash. Bytes from 0x80 start UTF-8
// sequences, which are checked.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string, setting *invalid when s is
// not UTF-8. Such bytes are kept as they are, never replaced with U+FFFD
// (which would merge different ids into one Amplitude user): the mapping
// refuses the event naming the field, as it does for the same bytes
// received over HTTP.
func appendJSONString(dst []byte, s string, invalid *bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := plainRun(s, 0); i < len(s); i = plainRun(s, i) {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				*invalid = true
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plainRun is the index of the first byte of s from i on that is not
// plain, or len(s): a loop without calls, which the compiler keeps in
// registers.
func plainRun(s string, i int) int {
	for i < len(s) && plainByte[s[i]] {
		i++
	}
	return i
}

// appendStringValue appends the string r holds, noting in r a string that
// is not UTF-8.
func appendStringValue(dst []byte, r *decoder) []byte {
	return appendJSONString(dst, r.readString(), &r.invalidUTF8)
}

// appendName appends a name from the schema or the file's path: one that is
// not UTF-8 is kept as it is, for the mapping to refuse.
func appendName(dst []byte, s string) []byte {
	var invalid bool
	return appendJSONString(dst, s, &invalid)
}
