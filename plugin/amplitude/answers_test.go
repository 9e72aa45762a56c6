package amplitude

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tidwall/gjson"
)

// scripted is an Amplitude stand-in answering from a script, for the
// answers the emulator has no reason to give to a well-behaved client.
type scripted struct {
	mu       sync.Mutex
	answer   func(call int, insertIDs []string) (int, string)
	calls    int
	accepted map[string]int
}

func startScripted(t *testing.T, answer func(call int, insertIDs []string) (int, string)) (*scripted, string) {
	s := &scripted{answer: answer, accepted: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ids []string
		for _, ev := range gjson.GetBytes(body, "events").Array() {
			ids = append(ids, ev.Get("insert_id").String())
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		status, answer := s.answer(s.calls, ids)
		if status == http.StatusOK {
			for _, id := range ids {
				s.accepted[id]++
			}
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func indexOf(ids []string, id string) int {
	for i, v := range ids {
		if v == id {
			return i
		}
	}
	return -1
}

func TestAnswersNamingEventsFailExactlyThoseEvents(t *testing.T) {
	cases := []struct {
		list, field, reason string
	}{
		{"events_with_invalid_fields", "time", "invalid_field"},
		{"events_with_missing_fields", "event_type", "missing_field"},
		{"events_with_invalid_id_lengths", "device_id", "invalid_id_length"},
	}
	for _, c := range cases {
		t.Run(c.list, func(t *testing.T) {
			srv, url := startScripted(t, func(_ int, ids []string) (int, string) {
				if i := indexOf(ids, "bad"); i >= 0 {
					return 400, fmt.Sprintf(`{"code":400,"error":"Request missing required field","%s":{"%s":[%d]}}`, c.list, c.field, i)
				}
				return 200, `{"code":200}`
			})
			p := startPipeline(t, url, "")
			sent := append(events("good", 20), event("bad", "user-bad", ""))
			p.send(t, sent, 21)
			p.stop()
			failures := p.capture.snapshot()
			want := fmt.Sprintf("amplitude: %s: Amplitude reports %s", c.reason, c.field)
			if got := failures["bad"]; len(got) != 1 || got[0][:len(want)] != want || len(failures) != 1 {
				t.Errorf("failures %v, want only bad with %q", failures, want)
			}
			if len(srv.accepted) != 20 || srv.accepted["bad"] != 0 {
				t.Errorf("accepted %v", srv.accepted)
			}
		})
	}
}

// A 400 that names no event, or a 413, is split in halves until the culprit
// stands alone; it alone fails, with the answer Amplitude gave to it.
func TestAnAnswerBlamingNoEventIsSplitDownToTheCulprit(t *testing.T) {
	cases := []struct {
		name, answer, want string
		status             int
	}{
		{"400 naming nothing", `{"code":400,"error":"Invalid JSON request body"}`,
			`amplitude: rejected: Amplitude answered 400 "Invalid JSON request body" to this event alone`, 400},
		{"413", `{"code":413,"error":"Payload too large"}`,
			`amplitude: too_large: Amplitude answered 413 "Payload too large" to this event alone`, 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, url := startScripted(t, func(_ int, ids []string) (int, string) {
				if indexOf(ids, "culprit") >= 0 {
					return c.status, c.answer
				}
				return 200, `{"code":200}`
			})
			p := startPipeline(t, url, "")
			p.send(t, append(events("fine", 30), event("culprit", "user-culprit", "")), 31)
			p.stop()
			failures := p.capture.snapshot()
			if got := failures["culprit"]; len(got) != 1 || len(failures) != 1 || got[0] != c.want {
				t.Errorf("failures %v", failures)
			}
			if len(srv.accepted) != 30 {
				t.Errorf("accepted %d events, want 30", len(srv.accepted))
			}
		})
	}
}

func TestAMissingFieldIsAConfigurationFaultThatHoldsEvents(t *testing.T) {
	srv, url := startScripted(t, func(call int, _ []string) (int, string) {
		if call <= 3 {
			return 400, `{"code":400,"error":"Request missing required field","missing_field":"api_key"}`
		}
		return 200, `{"code":200}`
	})
	p := startPipeline(t, url, "")
	sent := events("held", 10)
	p.send(t, sent, 10)
	p.stop()
	if failures := p.capture.snapshot(); len(failures) != 0 {
		t.Errorf("a configuration fault failed events: %v", failures)
	}
	// Events of one batch may share a request or not, so only the least
	// number of calls is known: three refused, then one or more accepted.
	if len(srv.accepted) != 10 || srv.calls < 4 {
		t.Errorf("accepted %d after %d calls, want 10 after at least 4", len(srv.accepted), srv.calls)
	}
}

func TestRequestsCarryTheKeyTheOptionsAndGzip(t *testing.T) {
	var mu sync.Mutex
	var got struct {
		encoding, path string
		body           map[string]any
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got.encoding, got.path = r.Header.Get("Content-Encoding"), r.URL.Path
		zr, err := gzipReader(r)
		if err != nil {
			t.Error(err)
		}
		_ = json.NewDecoder(zr).Decode(&got.body)
		_, _ = io.WriteString(w, `{"code":200}`)
	}))
	defer srv.Close()
	p := startPipeline(t, srv.URL, `{gzip: true, api: batch, endpoint: "`+srv.URL+`/batch", min_id_length: 7}`)
	p.send(t, events("zipped", 3), 3)
	p.stop()
	mu.Lock()
	defer mu.Unlock()
	opts, _ := got.body["options"].(map[string]any)
	if got.encoding != "gzip" || got.path != "/batch" || got.body["api_key"] != "test-api-key" || opts["min_id_length"] != 7.0 || len(got.body["events"].([]any)) != 3 {
		t.Errorf("request: %+v", got)
	}
}

func gzipReader(r *http.Request) (io.Reader, error) {
	if r.Header.Get("Content-Encoding") != "gzip" {
		return r.Body, nil
	}
	return gzip.NewReader(r.Body)
}
