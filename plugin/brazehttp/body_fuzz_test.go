package brazehttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/internal/envelope"
	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

// FuzzBodyHandlingNeverPanics drives what the receiver does with a body it
// has read: the envelope split into messages (messagesOf, as serve calls
// it) and the mapping of each message, as config/braze-receiver.yaml runs
// it. Nothing may panic, a body split without error must be JSON, and a
// smaller event limit must cut exactly where the count passes it.
func FuzzBodyHandlingNeverPanics(f *testing.F) {
	var all [][]byte
	for _, s := range samples.CustomHTTP(f) {
		all = append(all, s.Data)
		f.Add([]byte(`{"events":[` + string(s.Data) + `]}`))
	}
	f.Add([]byte(`{"events":[` + string(bytes.Join(all, []byte(","))) + `]}`))
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"events":[]}`, `{"events":null}`, `{"events":[null,1,"x",[],true]}`,
		`{"events":[{}],"events":[{}]}`, `{"\u0065vents":[{"id":"a"}]}`, `{"events":[{"id":"a"}],"other":{"events":1}}`,
		`{"events":[` + strings.Repeat("[", 10001) + `]}`, tinyEvents(5), `{"events":[{"id":"a"}`,
	} {
		f.Add([]byte(s))
	}
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	const smallLimit = 3
	f.Fuzz(func(t *testing.T, body []byte) {
		batch, err := messagesOf(body, defaultMaxEvents)
		small, smallErr := messagesOf(body, smallLimit)
		switch {
		case errors.Is(err, envelope.ErrNotJSON), errors.Is(err, envelope.ErrTooDeep):
			if json.Valid(body) {
				t.Fatalf("valid JSON refused with %v", err)
			}
		case err == nil:
			if !json.Valid(body) {
				t.Fatal("invalid JSON split without error")
			}
			switch {
			case len(batch) <= smallLimit && (smallErr != nil || len(small) != len(batch)):
				t.Fatalf("%d events; with a limit of %d: %d events, %v", len(batch), smallLimit, len(small), smallErr)
			case len(batch) > smallLimit && !errors.Is(smallErr, envelope.ErrTooManyEvents):
				t.Fatalf("%d events; with a limit of %d: %v, want too many", len(batch), smallLimit, smallErr)
			}
		}
		var dst []byte
		for k, msg := range batch {
			event, err := msg.AsBytes()
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(event) {
				t.Fatalf("events[%d] is not JSON: %q", k, event)
			}
			_, mapErr := m.MapRaw(dst[:0], event)
			if flagged := msg.GetError(); flagged != nil && mapErr == nil {
				t.Fatalf("events[%d] %q flagged (%v) but mapped", k, event, flagged)
			}
		}
	})
}
