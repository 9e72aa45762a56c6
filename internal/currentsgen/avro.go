package currentsgen

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// Braze's storage export writes each event as a flat Avro record of its
// type's writer schema (SPEC.md, 2B). The generator writes the same events as
// Next, as records of schemas it derives from each sample with Braze's
// conventions, so that no schema of Braze's is copied:
//
//   - the record is named dataexport.S3.inner.<event type>, e.g. namespace
//     dataexport.S3.inner.users.behaviors and name Purchase;
//   - id, user_id and time are required (string, string, int), every other
//     column is optional: a union of null and its type;
//   - the user's ids and timezone are columns beside the properties;
//   - custom event and purchase properties are one string column,
//     properties, holding their JSON;
//   - numbers with a fraction (price, latitude, ...) are 32-bit floats.
type avroTemplate struct {
	eventType string
	schema    *avro.RecordSchema
	// The record is parts[0] value(kinds[0]) parts[1] ... parts[n], as the
	// JSON templates are; kinds index placeholders.
	parts [][]byte
	kinds []int
}

// avroColumn is one column of a derived schema and its sample value.
type avroColumn struct {
	name   string
	schema string // JSON
	kind   int    // a placeholder, or -1 for a constant value
	value  []byte // the encoded constant
}

func newAvroTemplate(sample []byte, userless bool) (*avroTemplate, error) {
	d := json.NewDecoder(bytes.NewReader(sample))
	d.UseNumber()
	var ev struct {
		EventType  string         `json:"event_type"`
		User       map[string]any `json:"user"`
		Properties map[string]any `json:"properties"`
	}
	if err := d.Decode(&ev); err != nil {
		return nil, fmt.Errorf("currentsgen: sample: %w", err)
	}
	const optionalString = `["null", "string"]`
	cols := []avroColumn{{name: "id", schema: `"string"`, kind: valueID}}
	if !userless {
		cols = append(cols,
			avroColumn{name: "user_id", schema: `"string"`, kind: valueBrazeID},
			avroColumn{name: "external_user_id", schema: optionalString, kind: valueUser},
			avroColumn{name: "device_id", schema: optionalString, kind: valueDevice})
	}
	cols = append(cols, avroColumn{name: "time", schema: `"int"`, kind: valueTime})
	if tz, ok := ev.User["timezone"]; ok {
		c, err := avroConstant("timezone", tz)
		if err != nil {
			return nil, fmt.Errorf("currentsgen: %s: %w", ev.EventType, err)
		}
		cols = append(cols, c)
	}
	for _, name := range slices.Sorted(maps.Keys(ev.Properties)) {
		v := ev.Properties[name]
		if name == "custom_properties" || name == "purchase_properties" {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			cols = append(cols, avroColumn{name: "properties", schema: `"string"`, kind: -1, value: appendAvroString(nil, string(b))})
			continue
		}
		c, err := avroConstant(name, v)
		if err != nil {
			return nil, fmt.Errorf("currentsgen: %s: %w", ev.EventType, err)
		}
		cols = append(cols, c)
	}

	dot := strings.LastIndexByte(ev.EventType, '.')
	var fields []string
	t := &avroTemplate{eventType: ev.EventType}
	var part []byte
	for _, c := range cols {
		fields = append(fields, fmt.Sprintf(`{"name": %q, "type": %s}`, c.name, c.schema))
		if c.kind < 0 {
			part = append(part, c.value...)
			continue
		}
		t.parts = append(t.parts, part)
		t.kinds = append(t.kinds, c.kind)
		part = nil
	}
	t.parts = append(t.parts, part)
	schema, err := avro.Parse(fmt.Sprintf(`{"type": "record", "namespace": "dataexport.S3.inner.%s", "name": %q, "fields": [%s]}`,
		ev.EventType[:max(dot, 0)], ev.EventType[dot+1:], strings.Join(fields, ", ")))
	if err != nil {
		return nil, fmt.Errorf("currentsgen: %s: schema: %w", ev.EventType, err)
	}
	t.schema = schema.(*avro.RecordSchema)
	return t, nil
}

// avroConstant is the column of a sample property that no event changes.
func avroConstant(name string, v any) (avroColumn, error) {
	c := avroColumn{name: name, kind: -1}
	switch v := v.(type) {
	case nil:
		c.schema, c.value = `["null", "string"]`, []byte{0}
	case string:
		c.schema, c.value = `["null", "string"]`, appendAvroString([]byte{2}, v)
	case bool:
		c.schema, c.value = `["null", "boolean"]`, []byte{2, 0}
		if v {
			c.value[1] = 1
		}
	case json.Number:
		if i, err := v.Int64(); err == nil && !strings.ContainsAny(v.String(), ".eE") {
			c.schema = `["null", "long"]`
			if i >= math.MinInt32 && i <= math.MaxInt32 {
				c.schema = `["null", "int"]`
			}
			c.value = binary.AppendVarint([]byte{2}, i)
			break
		}
		f, err := strconv.ParseFloat(v.String(), 32)
		if err != nil {
			return c, fmt.Errorf("property %s: %w", name, err)
		}
		c.schema = `"float"`
		c.value = binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(f)))
	case []any:
		c.schema = `{"type": "array", "items": "string"}`
		c.value = binary.AppendVarint(nil, int64(len(v)))
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				return c, fmt.Errorf("property %s: an array of %T, not of strings", name, item)
			}
			c.value = appendAvroString(c.value, s)
		}
		if len(v) > 0 {
			c.value = append(c.value, 0)
		}
	default:
		return c, fmt.Errorf("property %s: a %T has no Avro column", name, v)
	}
	return c, nil
}

// appendAvroString writes an Avro string: its length, then its bytes.
func appendAvroString(dst []byte, s string) []byte {
	return append(binary.AppendVarint(dst, int64(len(s))), s...)
}

// appendOptionalString writes the string branch of a union with null.
func appendOptionalString(dst []byte, s string) []byte {
	return appendAvroString(append(dst, 2), s)
}

// Record is what NextRecord tells of the record it wrote.
type Record struct {
	Type int   // the index of its event type in AvroTypes
	Time int64 // UNIX seconds
}

// NextRecord appends the next event, the one Next would write, as an Avro
// record of its type's schema (AvroTypes) to dst.
func (g *Generator) NextRecord(dst []byte) ([]byte, Record) {
	d := g.draw()
	t := d.t.avro
	for k, kind := range t.kinds {
		dst = append(dst, t.parts[k]...)
		switch kind {
		case valueID:
			dst = binary.AppendVarint(dst, 36)
			dst = appendUUIDText(dst, g.cfg.Seed, d.i)
		case valueTime:
			dst = binary.AppendVarint(dst, g.time(d))
		case valueBrazeID:
			dst = appendAvroString(dst, "braze-"+d.user)
		case valueUser:
			if d.anonymous {
				dst = append(dst, 0)
			} else {
				dst = appendOptionalString(dst, d.user)
			}
		case valueDevice:
			dst = appendOptionalString(dst, d.device)
		}
	}
	dst = append(dst, t.parts[len(t.kinds)]...)
	return dst, Record{Type: d.ti, Time: g.time(d)}
}

// AvroType is an event type the generator writes and its writer schema.
type AvroType struct {
	EventType string
	Schema    *avro.RecordSchema
}

// AvroTypes are the event types of NextRecord, by Record.Type.
func (g *Generator) AvroTypes() []AvroType {
	out := make([]AvroType, len(g.templates))
	for i, t := range g.templates {
		out[i] = AvroType{EventType: t.avro.eventType, Schema: t.avro.schema}
	}
	return out
}
