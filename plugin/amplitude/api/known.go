package api

import (
	"context"
	"unsafe"
)

// The writer of an event may hand the output what it wrote along with the
// message, so that the output checks the event without reading it again:
// the currents_to_amplitude processor does, having just read and written
// every byte. The hand-off holds only while the message's bytes are the
// very ones written. Any change to a message replaces its bytes, so an
// event changed after its writer is read again.

type knownKey struct{}

// known is the context that carries the fields itself: one allocation per
// event rather than a record and a context.WithValue around it.
type known struct {
	context.Context
	raw    []byte
	fields Fields
}

func (k *known) Value(key any) any {
	if key == (knownKey{}) {
		return k
	}
	return k.Context.Value(key)
}

// WithFields returns ctx carrying the top-level fields of the event raw,
// which must be a JSON object in valid UTF-8 whose fields are f and whose
// bytes never change.
func WithFields(ctx context.Context, raw []byte, f Fields) context.Context {
	return &known{Context: ctx, raw: raw, fields: f}
}

// FieldsOf returns the fields WithFields attached to ctx for raw: the same
// bytes in memory, not an equal copy.
func FieldsOf(ctx context.Context, raw []byte) (Fields, bool) {
	k, ok := ctx.Value(knownKey{}).(*known)
	if !ok || len(raw) == 0 || len(k.raw) != len(raw) || unsafe.SliceData(k.raw) != unsafe.SliceData(raw) {
		return Fields{}, false
	}
	return k.fields, true
}
