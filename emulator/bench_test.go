package emulator

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// benchBody is an upload of n realistic events (a Braze email open mapped to
// Amplitude, about 1 KB each), each of its own device and user. The ids and insert_ids
// start with 16 placeholder hex digits; stamp rewrites them so that every request
// brings new devices, users and insert_ids, the costliest case for the per-id state.
type benchBody struct {
	body    []byte
	offsets []int // of the placeholders
}

var placeholder = []byte(`"0000000000000000-`)

const benchEvent = `{"user_id":"0000000000000000-user-%06d","device_id":"0000000000000000-device-%06d",` +
	`"event_type":"[Appboy] Email Opened","insert_id":"0000000000000000-%04d","time":1735786800000,` +
	`"library":"Braze","event_properties":{"app_group_id":"513bb445-8dc5-409d-a223-ab9c3148fecb",` +
	`"browser":"Chrome Mobile iOS","campaign_id":"d57f44cb-772a-4f5e-9b6b-7763fed755fc","campaign_name":"Spring promotion",` +
	`"canvas_id":"00ceecfb-16de-4be4-b031-8b436440eed3","canvas_name":"Onboarding","canvas_step_id":"8a8cceb9-5044-4ebf-9f9e-8bd968579222",` +
	`"canvas_step_name":"Welcome email","canvas_variation_id":"42c3c8ae-d840-4988-b715-e1c7c3d8aca2","canvas_variation_name":"Variant A",` +
	`"device_class":"mobile","device_model":"iPhone 15","device_os":"iOS","dispatch_id":"675f4e86bcdd3fb940751571",` +
	`"email_address":"someone@example.com","esp":"SendGrid","from_domain":"braze.com","ip_pool":"pool-1","is_amp":true,` +
	`"machine_open":"true","mailbox_provider":"Gmail","message_variation_id":"ddd927b7-253d-4666-a5d8-eb7c1228a807",` +
	`"message_variation_name":"Variant A","send_id":"send-0001",` +
	`"user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"}}`

func newBenchBody(n int) *benchBody {
	var b strings.Builder
	b.WriteString(`{"api_key":"bench-key","events":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, benchEvent, i, i, i)
	}
	b.WriteString(`]}`)
	bb := &benchBody{body: []byte(b.String())}
	for i := 0; ; {
		j := bytes.Index(bb.body[i:], placeholder)
		if j < 0 {
			break
		}
		i += j + 1
		bb.offsets = append(bb.offsets, i)
	}
	return bb
}

// stamp makes the body's ids and insert_ids unique to seq.
func (bb *benchBody) stamp(seq uint64) {
	for _, off := range bb.offsets {
		bb.put(off, seq)
	}
}

// stampKnown gives each event a user drawn from users (and one of the user's two
// devices) and an insert_id unique to seq, as a stream of a known population does.
func (bb *benchBody) stampKnown(seq uint64, rng *rand.Rand, users uint64) {
	for i := 0; i+2 < len(bb.offsets); i += 3 { // user_id, device_id, insert_id of each event
		user := rng.Uint64N(users)
		bb.put(bb.offsets[i], user)
		bb.put(bb.offsets[i+1], 2*user+rng.Uint64N(2))
		bb.put(bb.offsets[i+2], seq*uint64(len(bb.offsets))+uint64(i))
	}
}

// put writes n in 16 hex digits at off.
func (bb *benchBody) put(off int, n uint64) {
	for i := range 16 {
		bb.body[off+i] = "0123456789abcdef"[(n>>(60-4*i))&0xf]
	}
}

// benchServeHTTP serves requests of events; knownUsers > 0 draws their users from
// that many (after a first pass that meets them all), else every id is new.
func benchServeHTTP(b *testing.B, path string, events int, zip bool, knownUsers uint64) {
	e := New(Config{Recorder: NewJSONLinesRecorder(io.Discard)})
	bb := newBenchBody(events)
	if len(bb.body)/events < 1000 {
		b.Fatalf("events of %d bytes, want about 1 KB", len(bb.body)/events)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var seq uint64
	for ; seq*uint64(events) < 2*knownUsers; seq++ {
		bb.stampKnown(seq, rng, knownUsers)
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(bb.body))
		req.Header.Set("Content-Type", "application/json")
		e.ServeHTTP(httptest.NewRecorder(), req)
	}
	b.SetBytes(int64(len(bb.body)))
	b.ReportAllocs()
	start := time.Now()
	for ; b.Loop(); seq++ {
		if knownUsers > 0 {
			bb.stampKnown(seq, rng, knownUsers)
		} else {
			bb.stamp(seq)
		}
		payload := bb.body
		if zip {
			b.StopTimer()
			payload = gzipped(b, string(bb.body))
			b.StartTimer()
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		if zip {
			req.Header.Set("Content-Encoding", "gzip")
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %.300s", w.Code, w.Body)
		}
	}
	// Wall time including the gzip encoding done with the timer stopped.
	b.ReportMetric(float64(b.N*events)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkEmulatorBatch2000Events is one core's cost of a full Batch request of
// 2000 events of about 1 KB (2 MB): parse, validate, rate limits, dedup, recording.
func BenchmarkEmulatorBatch2000Events(b *testing.B) { benchServeHTTP(b, pathBatch, 2000, false, 0) }

// BenchmarkEmulatorBatch2000EventsGzip adds decompression.
func BenchmarkEmulatorBatch2000EventsGzip(b *testing.B) { benchServeHTTP(b, pathBatch, 2000, true, 0) }

// BenchmarkEmulatorHTTPV2800Events is a full HTTP V2 request: 800 events fit in 1 MB.
func BenchmarkEmulatorHTTPV2800Events(b *testing.B) { benchServeHTTP(b, pathHTTPV2, 800, false, 0) }

// BenchmarkEmulatorHTTPV2KnownIDs is HTTP V2 requests of 500 events from 200,000 known
// users with two devices each, as make bench sends.
func BenchmarkEmulatorHTTPV2KnownIDs(b *testing.B) {
	benchServeHTTP(b, pathHTTPV2, 500, false, 200_000)
}

// BenchmarkEmulatorLoopback measures requests/s and events/s of the emulator serving
// concurrent clients over loopback as the command does (recording every event to a
// file), clients included: they share the machine, as in a real benchmark run.
func BenchmarkEmulatorLoopback(b *testing.B) {
	for _, zip := range []bool{false, true} {
		b.Run(map[bool]string{false: "json", true: "gzip"}[zip], func(b *testing.B) { benchLoopback(b, zip) })
	}
}

func benchLoopback(b *testing.B, zip bool) {
	f, err := os.Create(filepath.Join(b.TempDir(), "events.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rec := NewJSONLinesRecorder(f)
	srv, err := Start(Config{Recorder: rec})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	const events = 2000
	var seq atomic.Uint64
	b.SetBytes(int64(len(newBenchBody(events).body)))
	b.SetParallelism(2) // 2 clients per core keep the server busy while one writes
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		bb := newBenchBody(events)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		for pb.Next() {
			bb.stamp(seq.Add(1))
			payload := bb.body
			if zip {
				payload = gzipped(b, string(bb.body))
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+pathBatch, bytes.NewReader(payload))
			req.Header.Set("Content-Type", "application/json")
			if zip {
				req.Header.Set("Content-Encoding", "gzip")
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	if err := rec.Flush(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/elapsed, "requests/s")
	b.ReportMetric(float64(b.N*events)/elapsed, "events/s")
}
