package handoff

import (
	"context"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

func TestWrittenFieldsHoldOnlyForTheBytesWritten(t *testing.T) {
	raw := []byte(`{"event_type":"e","user_id":"user-1"}`)
	f := ampapi.Fields{UserID: jsonscan.Value{Raw: `"user-1"`, Kind: jsonscan.String}, EventType: jsonscan.Value{Raw: `"e"`, Kind: jsonscan.String}}
	ctx := With(context.Background(), raw, f)
	for _, tt := range []struct {
		name string
		ctx  context.Context
		raw  []byte
		ok   bool
	}{
		{name: "the same bytes", ctx: ctx, raw: raw, ok: true},
		{name: "the same bytes under later context values", ctx: context.WithValue(ctx, struct{}{}, 1), raw: raw, ok: true},
		{name: "an equal copy", ctx: ctx, raw: []byte(string(raw)), ok: false},
		{name: "a prefix of the bytes", ctx: ctx, raw: raw[:len(raw)-1], ok: false},
		{name: "no bytes", ctx: With(context.Background(), nil, f), raw: nil, ok: false},
		{name: "a context without fields", ctx: context.Background(), raw: raw, ok: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Fields(tt.ctx, tt.raw)
			if ok != tt.ok || ok && got != f {
				t.Errorf("Fields = %+v, %v; want ok %v", got, ok, tt.ok)
			}
		})
	}
}

func TestTheContextWithFieldsKeepsItsParentsValuesAndCancellation(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx := With(parent, []byte(`{}`), ampapi.Fields{})
	if got := ctx.Value(key{}); got != "v" {
		t.Errorf("parent's value: %v", got)
	}
	cancel()
	select {
	case <-ctx.Done():
	default:
		t.Fatal("the parent's cancellation does not reach the context")
	}
	if ctx.Err() != context.Canceled {
		t.Errorf("Err: %v", ctx.Err())
	}
}
