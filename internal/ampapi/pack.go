package ampapi

import (
	"encoding/json"
	"iter"
	"strconv"
)

// Envelope is the JSON around a request's events:
// {"api_key":"...","events":[...],"options":{"min_id_length":N}}.
type Envelope struct {
	kind   Kind
	prefix []byte
	suffix []byte
}

// NewEnvelope prepares the body parts for one API key.
func NewEnvelope(kind Kind, apiKey string, minIDLength int) Envelope {
	key, _ := json.Marshal(apiKey)
	prefix := append(append([]byte(`{"api_key":`), key...), `,"events":[`...)
	suffix := append(append([]byte(`],"options":{"min_id_length":`), strconv.Itoa(minIDLength)...), `}}`...)
	return Envelope{kind: kind, prefix: prefix, suffix: suffix}
}

// MaxEventBytes is the largest single event a request can carry.
func (e Envelope) MaxEventBytes() int {
	return e.kind.Limits().MaxBytes - len(e.prefix) - len(e.suffix)
}

// Fill counts a request body as events join it, on the exact bytes sent.
type Fill struct {
	kind   Kind
	events int
	bytes  int
}

// NewFill starts an empty request.
func (e Envelope) NewFill() Fill {
	return Fill{kind: e.kind, bytes: len(e.prefix) + len(e.suffix)}
}

// Add counts an event of n bytes in, unless the request would pass the
// API's limits; the first event always fits (Inspect bounds its size).
func (f *Fill) Add(n int) bool {
	if f.events > 0 {
		n++ // the comma
	}
	if f.events > 0 && (f.events == f.kind.Limits().MaxEvents || f.bytes+n > f.kind.Limits().MaxBytes) {
		return false
	}
	f.events++
	f.bytes += n
	return true
}

// Bytes is the size of the request body so far.
func (f *Fill) Bytes() int { return f.bytes }

// Append writes a request body holding events to dst.
func (e Envelope) Append(dst []byte, events iter.Seq[[]byte]) []byte {
	dst = append(dst, e.prefix...)
	first := true
	for raw := range events {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, raw...)
	}
	return append(dst, e.suffix...)
}
