package amplitude

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
)

func startEmulator(t *testing.T, cfg emulator.Config) *emulator.Server {
	t.Helper()
	srv, err := emulator.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// Each Amplitude answer, produced by the emulator, through a real stream:
// every event ends accepted exactly once or failed with its reason.
func TestEveryAmplitudeAnswerEndsEachEventRight(t *testing.T) {
	cases := []struct {
		name   string
		emu    emulator.Config
		fields string
		events func() [][]byte
		fail   map[string]string // insert_id -> reason
		check  func(t *testing.T, s emulator.Stats)
	}{
		{
			name:   "200 acknowledges everything",
			events: func() [][]byte { return events("ok", 250) },
			check:  requestsWith(200),
		},
		{
			name: "400 silenced events fail alone, the rest is resent at once",
			emu:  emulator.Config{Faults: emulator.Faults{SilencedDevices: []string{"device-quiet"}}},
			events: func() [][]byte {
				return append(events("loud", 40), event("quiet-1", "user-quiet", "device-quiet"), event("quiet-2", "", "device-quiet"))
			},
			fail:  map[string]string{"quiet-1": "silenced_device", "quiet-2": "silenced_device"},
			check: requestsWith(200, 400),
		},
		{
			name:   "400 invalid API key holds the events until the key works again",
			emu:    emulator.Config{Faults: emulator.Faults{RejectKeyFrom: time.Now().Add(-time.Second), RejectKeyUntil: time.Now().Add(1500 * time.Millisecond)}},
			events: func() [][]byte { return events("keyfault", 60) },
			check:  requestsWith(200, 400),
		},
		{
			name:   "413 splits the request without losing an event",
			emu:    emulator.Config{MaxHTTPV2Bytes: 8_000},
			events: func() [][]byte { return events("big", 100) },
			check:  requestsWith(200, 413),
		},
		{
			name:   "429 pauses the throttled ids and resends the others",
			emu:    emulator.Config{HTTPV2EPS: 10},
			fields: `{limits: {enabled: false}, throttle_pause: 200ms}`,
			events: func() [][]byte {
				// Batches of 50 carry 8 events of the hot device each:
				// within Amplitude's 10 per request, over it per second.
				var evs [][]byte
				cool := events("cool", 168)
				for b := range 4 {
					for i := range 8 {
						evs = append(evs, event(fmt.Sprintf("hot-%d-%d", b, i), "user-hot", "device-hot"))
					}
					evs = append(evs, cool[b*42:(b+1)*42]...)
				}
				return evs
			},
			check: requestsWith(200, 429),
		},
		{
			name:   "429 daily quota fails the ids over it with daily_quota",
			emu:    emulator.Config{DailyQuota: 3},
			fields: `{limits: {enabled: false}, daily_quota_policy: fail}`,
			events: func() [][]byte {
				var evs [][]byte
				for i := range 5 {
					evs = append(evs, event(fmt.Sprintf("quota-%d", i), "user-quota", ""))
				}
				return append(evs, events("within", 2)...)
			},
			fail:  map[string]string{"quota-0": "daily_quota", "quota-1": "daily_quota", "quota-2": "daily_quota", "quota-3": "daily_quota", "quota-4": "daily_quota"},
			check: requestsWith(200, 429),
		},
		{
			name:   "500, 502 and 504 that ingested first are retried: insert_id makes it exactly once",
			emu:    emulator.Config{Faults: emulator.Faults{Seed: 3, ErrorRate: 0.5, ErrorCodes: []int{500, 502, 504}, IngestBeforeError: true}},
			events: func() [][]byte { return events("maybe", 300) },
			check: func(t *testing.T, s emulator.Stats) {
				requestsWith(200)(t, s)
				if s.Requests[500]+s.Requests[502]+s.Requests[504] == 0 {
					t.Errorf("no 5xx answer: %v", s.Requests)
				}
				if s.EventsDeduplicated == 0 {
					t.Error("no retry of an ingested request: the test did not test idempotency")
				}
			},
		},
		{
			name:   "503 is retried",
			emu:    emulator.Config{Faults: emulator.Faults{Seed: 4, ErrorRate: 0.6, ErrorCodes: []int{503}}},
			events: func() [][]byte { return events("unavailable", 200) },
			check:  requestsWith(200, 503),
		},
		{
			name:   "a slow answer past the timeout is retried",
			emu:    emulator.Config{Faults: emulator.Faults{Seed: 5, SlowRate: 0.5, SlowDelay: 400 * time.Millisecond}},
			fields: `{timeout: 100ms}`,
			events: func() [][]byte { return events("slow", 100) },
			check: func(t *testing.T, s emulator.Stats) {
				if s.SlowResponses == 0 {
					t.Error("no slow response was injected")
				}
			},
		},
		{
			name:   "a reset connection is retried",
			emu:    emulator.Config{Faults: emulator.Faults{Seed: 6, ResetRate: 0.5}},
			events: func() [][]byte { return events("reset", 200) },
			check: func(t *testing.T, s emulator.Stats) {
				if s.ConnectionResets == 0 {
					t.Error("no connection was reset")
				}
			},
		},
		{
			name: "events Amplitude would refuse fail before any request",
			events: func() [][]byte {
				return [][]byte{
					event("short-id", "abc", ""),
					event("blocklisted", "undefined", ""),
					event("no-ids", "", ""),
					[]byte(`{"event_type":"e","insert_id":"seconds","user_id":"user-12345","time":1700000000}`),
					[]byte(`{"event_type":"e","insert_id":"not-json","user_id":"user-12345"`),
					[]byte(`{"insert_id":"no-type","user_id":"user-12345"}`),
					[]byte(`{"event_type":"e","insert_id":"too-large","user_id":"user-12345","p":"` + strings.Repeat("x", 1_000_000) + `"}`),
				}
			},
			fail: map[string]string{
				"short-id": "invalid_id_length", "blocklisted": "invalid_id", "no-ids": "missing_id", "seconds": "invalid_time",
				"no-type": "missing_event_type", "too-large": "too_large", "not-json": "invalid_json",
			},
			check: func(t *testing.T, s emulator.Stats) {
				if len(s.Requests) != 0 {
					t.Errorf("requests were sent: %v", s.Requests)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			emu := startEmulator(t, c.emu)
			p := startPipeline(t, emu.URL, c.fields)
			sent := c.events()
			p.send(t, sent, 50)
			p.stop()
			expectOutcomes(t, emu, p, sent, c.fail)
			if c.check != nil {
				c.check(t, emu.Stats())
			}
		})
	}
}

// requestsWith checks the emulator saw answers of each status.
func requestsWith(statuses ...int) func(t *testing.T, s emulator.Stats) {
	return func(t *testing.T, s emulator.Stats) {
		t.Helper()
		for _, st := range statuses {
			if s.Requests[st] == 0 {
				t.Errorf("no %d answer: the test did not exercise it (requests %v)", st, s.Requests)
			}
		}
	}
}

func TestARotatedKeyFileIsPickedUpWithoutRestart(t *testing.T) {
	emu := startEmulator(t, emulator.Config{APIKeys: []string{"the-new-key"}})
	keyFile := filepath.Join(t.TempDir(), "amplitude.key")
	if err := os.WriteFile(keyFile, []byte("the-old-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPipeline(t, emu.URL, fmt.Sprintf(`{api_key: "", api_key_file: %q}`, keyFile))
	go func() {
		time.Sleep(1500 * time.Millisecond)
		_ = os.WriteFile(keyFile, []byte("the-new-key\n"), 0o600)
	}()
	sent := events("rotated", 40)
	p.send(t, sent, 20)
	p.stop()
	expectOutcomes(t, emu, p, sent, nil)
	requestsWith(200, 400)(t, emu.Stats())
}

func TestARefusedConnectionIsRetriedUntilAmplitudeAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	started := make(chan *emulator.Server, 1)
	go func() {
		time.Sleep(time.Second)
		srv, err := emulator.Listen(addr, emulator.Config{})
		if err != nil {
			t.Error(err)
		}
		started <- srv
	}()
	p := startPipeline(t, "http://"+addr, "")
	sent := events("refused", 30)
	p.send(t, sent, 10)
	p.stop()
	emu := <-started
	defer emu.Close()
	expectOutcomes(t, emu, p, sent, nil)
}

// Stopping the stream while Amplitude is down ends within the shutdown
// deadline and acknowledges nothing that was not delivered: the input keeps
// the events to deliver them again.
func TestShutdownWhileAmplitudeIsDownAcknowledgesNothing(t *testing.T) {
	emu := startEmulator(t, emulator.Config{Faults: emulator.Faults{ErrorRate: 1, ErrorCodes: []int{503}}})
	p := startPipeline(t, emu.URL, "")
	ctx, cancel := context.WithCancel(context.Background())
	acked := make(chan error, 1)
	go func() {
		acked <- p.produce(ctx, service.MessageBatch{service.NewMessage(event("down-1", "user-down-1", "device-down-1"))})
	}()
	for emu.Stats().Requests[503] < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	p.stop()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("stopping took %v", took)
	}
	// The host leaves an unfinished transaction unanswered: the producer
	// gives up waiting, as an input's caller would time out.
	cancel()
	if err := <-acked; err == nil {
		t.Error("the batch was acknowledged though Amplitude never took it")
	}
	if failures := p.capture.snapshot(); len(failures) != 0 {
		t.Errorf("shutdown dead-lettered events: %v", failures)
	}
}

func TestRequestsGoWhereRegionEndpointAndAPISay(t *testing.T) {
	for _, tt := range []struct{ config, want string }{
		{`{api_key: k}`, "https://api2.amplitude.com/2/httpapi"},
		{`{api_key: k, region: eu, api: batch}`, "https://api.eu.amplitude.com/batch"},
		{`{api_key: k, region: emulator}`, "http://127.0.0.1:8765/2/httpapi"},
		{`{api_key: k, region: eu, endpoint: "http://127.0.0.1:9000"}`, "http://127.0.0.1:9000/2/httpapi"},
		{`{api_key: k, api: batch, endpoint: "http://127.0.0.1:9000/"}`, "http://127.0.0.1:9000/batch"},
		{`{api_key: k, api: batch, endpoint: "https://proxy.internal/amp/2/httpapi"}`, "https://proxy.internal/amp/2/httpapi"},
	} {
		t.Run(tt.config, func(t *testing.T) {
			conf, err := outputSpec().ParseYAML(tt.config, nil)
			if err != nil {
				t.Fatal(err)
			}
			apiName, _ := conf.FieldString(fieldAPI)
			kind, _ := ampapi.ParseKind(apiName)
			if got, err := endpointURL(conf, kind); err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	conf, err := outputSpec().ParseYAML(`{api_key: k, endpoint: "api2.amplitude.com"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := endpointURL(conf, ampapi.HTTPV2); err == nil || !strings.Contains(err.Error(), "endpoint") {
		t.Errorf("an endpoint without a scheme: %v, want an error naming the field", err)
	}
}
