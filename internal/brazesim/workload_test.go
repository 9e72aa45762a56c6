package brazesim

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

func customHTTPSamples(t *testing.T) []map[string]any {
	t.Helper()
	s, err := LoadSamples(filepath.Join(samples.Dir(t), "custom-http"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadSamplesReadsEveryExample(t *testing.T) {
	got := customHTTPSamples(t)
	if want := len(samples.CustomHTTP(t)); len(got) != want {
		t.Fatalf("%d samples, want %d", len(got), want)
	}
	if _, err := LoadSamples(t.TempDir()); err == nil {
		t.Fatal("an empty directory gave no error")
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestGenerate(t *testing.T) {
	src := customHTTPSamples(t)
	w := Workload{Events: 5000, Users: 50, AnonymousShare: 0.1, Seed: 7, StartTime: 1_800_000_000, PerSecond: 100}
	events, err := Generate(src, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != w.Events {
		t.Fatalf("%d events, want %d", len(events), w.Events)
	}
	types := map[string]bool{}
	ids := map[string]bool{}
	users := map[string]bool{}
	var anonymous, noUser int
	for k, raw := range events {
		var ev struct {
			ID        string         `json:"id"`
			Time      int64          `json:"time"`
			EventType string         `json:"event_type"`
			User      map[string]any `json:"user"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if !uuidRE.MatchString(ev.ID) || ids[ev.ID] {
			t.Fatalf("event %d: id %q is not a fresh UUID", k, ev.ID)
		}
		ids[ev.ID] = true
		types[ev.EventType] = true
		if want := w.StartTime + int64(k/w.PerSecond); ev.Time != want {
			t.Fatalf("event %d: time %d, want %d", k, ev.Time, want)
		}
		ext, hasExt := ev.User["external_user_id"].(string)
		dev, hasDev := ev.User["device_id"].(string)
		switch {
		case hasExt:
			users[ext] = true
			if !strings.HasPrefix(ext, "user-") || (hasDev && dev != "device-"+strings.TrimPrefix(ext, "user-")) {
				t.Fatalf("event %d: user %v is not one drawn user", k, ev.User)
			}
		case hasDev:
			anonymous++
		default:
			noUser++
		}
	}
	if len(types) < 80 {
		t.Errorf("only %d event types in 5000 events of %d samples", len(types), len(src))
	}
	if len(users) != w.Users {
		t.Errorf("%d distinct users, want %d", len(users), w.Users)
	}
	// ToolInvocation, the one sample without user ids, stays without.
	if noUser == 0 {
		t.Error("no event without user ids: the dead-letter path would go untested")
	}
	if anonymous < 300 || anonymous > 700 {
		t.Errorf("%d anonymous events, want about 10%% of the %d with a device", anonymous, w.Events)
	}

	again, err := Generate(src, w)
	if err != nil {
		t.Fatal(err)
	}
	for k := range events {
		if !bytes.Equal(events[k], again[k]) {
			t.Fatalf("the same seed gave another event %d", k)
		}
	}
	w.Seed++
	other, err := Generate(src, w)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(events[0], other[0]) {
		t.Fatal("another seed gave the same events")
	}
}

func TestReadEvents(t *testing.T) {
	got, err := ReadEvents(strings.NewReader("{\"id\":\"a\"}\n\n  {\"id\":\"b\"}  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0]) != `{"id":"a"}` || string(got[1]) != `{"id":"b"}` {
		t.Fatalf("got %q", got)
	}
	if _, err := ReadEvents(strings.NewReader("{\"id\":\"a\"}\n{oops\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a bad line: %v", err)
	}
}
