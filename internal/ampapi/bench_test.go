package ampapi

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/jsonscan"
)

// benchEvents are Amplitude events as the mapping writes them, one per line
// of testdata/events.jsonl: its golden outputs for the 92 sample events with
// user ids (internal/currentsmap/testdata/golden, in file-name order), compact,
// with device ids spread over many devices (device-100000, device-100001,
// ...) as in real traffic.
func benchEvents(b *testing.B) [][]byte {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "events.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	events := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	for i, ev := range events {
		if !json.Valid(ev) {
			b.Fatalf("testdata/events.jsonl line %d is not JSON", i+1)
		}
	}
	return events
}

// BenchmarkInspect is the output's check of each event before it is sent;
// an op is one average event.
func BenchmarkInspect(b *testing.B) {
	events := benchEvents(b)
	max := NewEnvelope(HTTPV2, "0123456789abcdef0123456789abcdef", 5).MaxEventBytes()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Inspect(events[i%len(events)], 5, max); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCheck is the output's check of an event whose fields the
// currents_to_amplitude processor handed over (package handoff): Inspect without
// reading the event, but for the quick look at its Shape.
func BenchmarkCheck(b *testing.B) {
	events := benchEvents(b)
	fields := make([]Fields, len(events))
	for i, ev := range events {
		sc := jsonscan.New(string(ev))
		for it := sc.Object(); it.Next(&sc); {
			switch v := sc.Value(); it.Name() {
			case "user_id":
				fields[i].UserID = v
			case "device_id":
				fields[i].DeviceID = v
			case "event_type":
				fields[i].EventType = v
			case "time":
				fields[i].Time = v
			}
		}
	}
	max := NewEnvelope(HTTPV2, "0123456789abcdef0123456789abcdef", 5).MaxEventBytes()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		k := i % len(events)
		if _, err := Check(events[k], fields[k], 5, max); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPack fills one request as the dispatcher does (Fill.Add per
// event up to the API's limits) and serialises its body; an op is one
// full request, and ns/event the cost per event.
func BenchmarkPack(b *testing.B) {
	events := benchEvents(b)
	for _, kind := range []Kind{HTTPV2, Batch} {
		b.Run(kind.String(), func(b *testing.B) {
			env := NewEnvelope(kind, "0123456789abcdef0123456789abcdef", 5)
			var body []byte
			packed := 0
			b.ReportAllocs()
			for b.Loop() {
				fill := env.NewFill()
				n := 0
				for fill.Add(len(events[n%len(events)])) {
					n++
				}
				body = env.Append(body[:0], func(yield func([]byte) bool) {
					for k := range n {
						if !yield(events[k%len(events)]) {
							return
						}
					}
				})
				packed += n
			}
			if len(body) > kind.Limits().MaxBytes {
				b.Fatalf("body of %d bytes", len(body))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packed), "ns/event")
			b.ReportMetric(float64(packed)/float64(b.N), "events/request")
		})
	}
}

// BenchmarkClassify reads Amplitude's answers: the 200 of every request,
// and a 429 naming throttled ids.
func BenchmarkClassify(b *testing.B) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		want   Outcome
	}{
		{"accepted", 200, `{"code":200,"events_ingested":1090,"payload_size_bytes":997731,"server_upload_time":1700000000000}`, Accepted},
		{"throttled", 429, `{"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,` +
			`"throttled_devices":{"device-1":31,"device-2":45},"throttled_users":{"user-1":31},"throttled_events":[3,17,29,400,1001]}`, Throttled},
	} {
		b.Run(c.name, func(b *testing.B) {
			body := []byte(c.body)
			b.ReportAllocs()
			for b.Loop() {
				if got, _ := Classify(c.status, bytes.Clone(body)); got != c.want {
					b.Fatalf("%s, want %s", got, c.want)
				}
			}
		})
	}
}

// BenchmarkMeasure is the look at an event's Shape that Check makes when
// the writer did not hand it over.
func BenchmarkMeasure(b *testing.B) {
	events := benchEvents(b)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if s := Measure(events[i%len(events)]); s.DeepField != "" {
			b.Fatal(s)
		}
		i++
	}
}
