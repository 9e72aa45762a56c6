package currentsmap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
)

// MapObject returns the Amplitude event for a parsed Currents event, as
// Benthos holds it (objects are map[string]any, numbers json.Number, float64
// or int64). It is MapRaw on the event serialised as Benthos serialises it,
// with the result parsed as Benthos parses JSON: numbers are json.Number.
// Errors are those of MapRaw, and a *FieldError for an event JSON cannot
// hold (a NaN, say).
func (m *Mapper) MapObject(event any) (map[string]any, error) {
	b := objectBuffers.Get().(*objectBuffer)
	defer objectBuffers.Put(b)
	b.in.Reset()
	enc := json.NewEncoder(&b.in)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(event); err != nil {
		root, _ := event.(map[string]any)
		id, _ := root["id"].(string)
		return nil, &FieldError{EventID: id, Problem: "not representable as JSON: " + err.Error()}
	}
	out, err := m.MapRaw(b.out[:0], b.in.Bytes())
	if err != nil {
		return nil, err
	}
	b.out = out
	var mapped map[string]any
	d := json.NewDecoder(bytes.NewReader(out))
	d.UseNumber()
	if err := d.Decode(&mapped); err != nil {
		return nil, fmt.Errorf("mapping: wrote invalid JSON: %w", err) // a bug, not a bad event
	}
	return mapped, nil
}

// objectBuffer holds one MapObject call's event and result JSON, reused
// because both are garbage once the result is decoded.
type objectBuffer struct {
	in  bytes.Buffer
	out []byte
}

var objectBuffers = sync.Pool{New: func() any { return new(objectBuffer) }}
