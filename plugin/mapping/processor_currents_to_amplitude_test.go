package mapping

import (
	"bytes"
	"context"
	"errors"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

// startStream runs a real stream: a producer, the given processor YAML, and
// consume as its output. stop stops it and waits for it to end.
func startStream(tb testing.TB, processorYAML string, consume func(service.MessageBatch) error) (produce service.MessageBatchHandlerFunc, stop func()) {
	tb.Helper()
	sb := service.NewStreamBuilder()
	if err := sb.SetLoggerYAML("level: none"); err != nil {
		tb.Fatal(err)
	}
	produce, err := sb.AddBatchProducerFunc()
	if err != nil {
		tb.Fatal(err)
	}
	if err := sb.AddProcessorYAML(processorYAML); err != nil {
		tb.Fatal(err)
	}
	err = sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error { return consume(b) })
	if err != nil {
		tb.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- stream.Run(context.Background()) }()
	return produce, func() {
		if err := stream.StopWithin(20 * time.Second); err != nil {
			tb.Fatal(err)
		}
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			tb.Fatal(err)
		}
	}
}

// runProcessor sends events through a real stream whose only processor is
// the given YAML, and returns what came out: content, or the error flag's text.
func runProcessor(t *testing.T, processorYAML string, events [][]byte) (out []string, errs []string) {
	t.Helper()
	produce, stop := startStream(t, processorYAML, func(b service.MessageBatch) error {
		for _, m := range b {
			if err := m.GetError(); err != nil {
				errs = append(errs, err.Error())
				continue
			}
			raw, _ := m.AsBytes()
			out = append(out, string(raw))
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	batch := make(service.MessageBatch, len(events))
	for i, ev := range events {
		batch[i] = service.NewMessage(ev)
	}
	if err := produce(ctx, batch); err != nil {
		t.Fatal(err)
	}
	stop()
	return out, errs
}

func TestTheProcessorMapsEverySampleAsTheMethodDoes(t *testing.T) {
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var events [][]byte
	var want []string
	wantFailures := 0
	for _, s := range samples.CustomHTTP(t) {
		events = append(events, s.Data)
		switch out, err := m.MapRaw(nil, s.Data); {
		case err == nil:
			want = append(want, string(out))
		case !errors.Is(err, currentsmap.ErrExcluded):
			wantFailures++
		}
	}
	got, errs := runProcessor(t, "currents_to_amplitude: {}", events)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the processor's %d events differ from the method's %d", len(got), len(want))
	}
	if len(errs) != wantFailures {
		t.Errorf("%d events flagged with an error, want %d: %q", len(errs), wantFailures, errs)
	}
}

func TestTheProcessorDropsExcludedEventsAndFlagsBadOnes(t *testing.T) {
	open := []byte(`{"event_type":"users.messages.email.Open","id":"e-open","time":1700000000,"user":{"external_user_id":"user-42"},"properties":{"email_address":"a@example.com"}}`)
	click := bytes.Replace(open, []byte("email.Open"), []byte("email.Click"), 1)
	noUser := []byte(`{"event_type":"users.messages.email.Open","id":"e-nouser","time":1700000000,"user":{},"properties":{}}`)
	notJSON := []byte(`{"event_type":`)
	got, errs := runProcessor(t, `currents_to_amplitude: {include: ["users.messages.email.Open"], pii: hash}`,
		[][]byte{open, click, noUser, notJSON})
	if len(got) != 1 || !strings.Contains(got[0], `"insert_id":"e-open"`) || strings.Contains(got[0], "a@example.com") {
		t.Errorf("kept %q, want only the open event, its address hashed", got)
	}
	if len(errs) != 2 || !strings.Contains(errs[0], `currents event "e-nouser": field user`) || !strings.Contains(errs[1], "not valid JSON") {
		t.Errorf("errors %q, want the user-less event's and the broken one's", errs)
	}
}

// With original_metadata set, each mapped message keeps the Currents event as
// it arrived, for a dead-letter route; without it, no metadata is added.
func TestTheProcessorKeepsTheOriginalEventWhenAsked(t *testing.T) {
	event := []byte(`{"event_type":"users.messages.email.Open","id":"ev-1","time":1700000000,"user":{"external_user_id":"user-1"},"properties":{"campaign_name":"Welcome"}}`)
	for _, tt := range []struct {
		name, yaml string
		want       string
	}{
		{"kept under the key", `currents_to_amplitude: {original_metadata: currents_event}`, string(event)},
		{"not kept by default", `currents_to_amplitude: {}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			var found bool
			produce, stop := startStream(t, tt.yaml, func(b service.MessageBatch) error {
				for _, m := range b {
					if v, ok := m.MetaGetMut("currents_event"); ok {
						got, found = string(v.([]byte)), true
					}
				}
				return nil
			})
			if err := produce(t.Context(), service.MessageBatch{service.NewMessage(event)}); err != nil {
				t.Fatal(err)
			}
			stop()
			if got != tt.want || found != (tt.want != "") {
				t.Errorf("metadata currents_event = %q (present %v), want %q", got, found, tt.want)
			}
		})
	}
}

// A message flagged before the processor (by the braze_currents input, for
// an element of `events` that is not an object) keeps that reason.
func TestTheProcessorLeavesAFlaggedMessageAndItsReason(t *testing.T) {
	var reasons []string
	produce, stop := startStream(t, `currents_to_amplitude: {}`, func(b service.MessageBatch) error {
		for _, m := range b {
			if err := m.GetError(); err != nil {
				reasons = append(reasons, err.Error())
			}
		}
		return nil
	})
	flagged := service.NewMessage([]byte("null"))
	flagged.SetError(errors.New("events[1]: null is not a Currents event, which is a JSON object"))
	if err := produce(t.Context(), service.MessageBatch{flagged}); err != nil {
		t.Fatal(err)
	}
	stop()
	if len(reasons) != 1 || reasons[0] != "events[1]: null is not a Currents event, which is a JSON object" {
		t.Errorf("reasons %q, want the input's", reasons)
	}
}
