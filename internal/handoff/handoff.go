// Package handoff carries what the writer of an Amplitude event already
// knows about it to the amplitude output, alongside the message, so that the
// output checks the event without reading it again.
//
// The currents_to_amplitude processor has just read and written every byte
// of the event; reading it once more in the output cost about 1 µs per event
// (ampapi.Inspect against ampapi.Check, see their benchmarks). The hand-off
// rides on the message's context, which Benthos carries from processor to
// output untouched.
//
// It holds only while the message's bytes are the very ones written: the
// receiver matches them by identity (same array, same length), not by
// content. Any change to a message after the writer replaces its bytes, so an
// event changed between the processor and the output is read again.
package handoff

import (
	"context"
	"unsafe"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
)

type key struct{}

// known is the context that carries the fields itself: one allocation per
// event rather than a record and a context.WithValue around it.
type known struct {
	context.Context
	raw    []byte
	fields ampapi.Fields
}

func (k *known) Value(v any) any {
	if v == (key{}) {
		return k
	}
	return k.Context.Value(v)
}

// With returns ctx carrying the top-level fields of the event raw, which
// must be a JSON object in valid UTF-8 whose fields are f and whose bytes
// never change.
func With(ctx context.Context, raw []byte, f ampapi.Fields) context.Context {
	return &known{Context: ctx, raw: raw, fields: f}
}

// Fields returns the fields With attached to ctx for raw: the same bytes in
// memory, not an equal copy.
func Fields(ctx context.Context, raw []byte) (ampapi.Fields, bool) {
	k, ok := ctx.Value(key{}).(*known)
	if !ok || len(raw) == 0 || len(k.raw) != len(raw) || unsafe.SliceData(k.raw) != unsafe.SliceData(raw) {
		return ampapi.Fields{}, false
	}
	return k.fields, true
}
