package currentsgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
)

func TestGeneratedEventsAreUniqueAndMap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Users = 50
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	users := map[string]bool{}
	excluded := 0
	for i := 0; i < 5000; i++ {
		ev := g.Next(nil)
		var parsed struct {
			ID   string `json:"id"`
			User struct {
				External string `json:"external_user_id"`
				Device   string `json:"device_id"`
			} `json:"user"`
		}
		if err := json.Unmarshal(ev, &parsed); err != nil {
			t.Fatalf("event %d is not JSON: %v\n%s", i, err, ev)
		}
		if ids[parsed.ID] {
			t.Fatalf("duplicate id %s", parsed.ID)
		}
		ids[parsed.ID] = true
		users[parsed.User.External] = true
		if parsed.User.Device == "" {
			t.Fatalf("event without device: %s", ev)
		}
		if _, err := m.MapRaw(nil, ev); err == currentsmap.ErrExcluded {
			excluded++
		} else if err != nil {
			t.Fatalf("generated event does not map: %v\n%s", err, ev)
		}
	}
	if len(users) < 20 {
		t.Errorf("only %d distinct users", len(users))
	}
	if excluded == 0 || excluded > 500 {
		t.Errorf("%d anonymous events of 5000 with a 5%% share", excluded)
	}
}

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// generated is what a test reads of a generated event.
type generated struct {
	ID        string `json:"id"`
	Time      int64  `json:"time"`
	EventType string `json:"event_type"`
	User      struct {
		BrazeID  *string `json:"user_id"`
		External *string `json:"external_user_id"`
		Device   *string `json:"device_id"`
	} `json:"user"`
}

func TestGeneratedEventsFollowTheConfig(t *testing.T) {
	cfg := Config{Seed: 7, Users: 50, AnonymousShare: 0.1, HotDevices: 3, HotShare: 0.2, StartTime: 1_800_000_000, PerSecond: 100}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	events := g.Events(n)
	if len(events) != n {
		t.Fatalf("%d events, want %d", len(events), n)
	}
	ids, types, users, hot := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	var anonymous, hotEvents int
	userRE := regexp.MustCompile(`^user-(\d+)$`)
	for k, raw := range events {
		var ev generated
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("event %d: %v\n%s", k, err, raw)
		}
		if !uuidShape.MatchString(ev.ID) || ids[ev.ID] {
			t.Fatalf("event %d: id %q is not a fresh UUID", k, ev.ID)
		}
		ids[ev.ID] = true
		types[ev.EventType] = true
		if want := cfg.StartTime + int64(k/cfg.PerSecond); ev.Time != want {
			t.Fatalf("event %d: time %d, want %d", k, ev.Time, want)
		}
		u := ev.User
		if u.Device == nil || u.BrazeID == nil {
			t.Fatalf("event %d: user %s without a device or Braze id", k, raw)
		}
		switch {
		case strings.HasPrefix(*u.Device, "hot-device-"):
			hotEvents++
			hot[*u.Device] = true
		case u.External == nil:
			anonymous++
		default:
			m := userRE.FindStringSubmatch(*u.External)
			if m == nil || (*u.Device != "device-"+m[1]+"-0" && *u.Device != "device-"+m[1]+"-1") || *u.BrazeID != "braze-"+*u.External {
				t.Fatalf("event %d: user %s is not one drawn user", k, raw)
			}
			users[*u.External] = true
		}
	}
	if len(types) != len(g.templates) {
		t.Errorf("%d event types in %d events, want every one of the %d samples", len(types), n, len(g.templates))
	}
	if len(users) != cfg.Users {
		t.Errorf("%d distinct users, want %d", len(users), cfg.Users)
	}
	if len(hot) != cfg.HotDevices || hotEvents < 800 || hotEvents > 1200 {
		t.Errorf("%d events from %d hot devices, want about 20%% of %d from %d", hotEvents, len(hot), n, cfg.HotDevices)
	}
	// Both shares are of all events: hot devices and anonymous users do not overlap.
	if anonymous < 400 || anonymous > 600 {
		t.Errorf("%d anonymous events, want about 10%% of %d", anonymous, n)
	}
}

func TestTheSeedRepeatsTheEvents(t *testing.T) {
	events := func(seed uint64) [][]byte {
		cfg := DefaultConfig()
		cfg.Seed = seed
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return g.Events(500)
	}
	first, again, other := events(3), events(3), events(4)
	for k := range first {
		if !bytes.Equal(first[k], again[k]) {
			t.Fatalf("the same seed gave another event %d:\n%s\n%s", k, first[k], again[k])
		}
	}
	if bytes.Equal(first[0], other[0]) {
		t.Fatal("another seed gave the same first event")
	}
}

// Braze sends event types without any user id; the mapping cannot send
// them to Amplitude, so the dead-letter path needs them in its traffic.
func TestUserlessAddsTheEventTypesWithoutUserIDs(t *testing.T) {
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, userless := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Userless = userless
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		without := 0
		for _, raw := range g.Events(5000) {
			var ev generated
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.User.BrazeID != nil || ev.User.External != nil || ev.User.Device != nil {
				continue
			}
			without++
			if _, err := m.MapRaw(nil, raw); err == nil || errors.Is(err, currentsmap.ErrExcluded) {
				t.Fatalf("an event without user ids maps (error %v): %s", err, raw)
			}
		}
		if got := without > 0; got != userless {
			t.Errorf("Userless %v: %d events without user ids", userless, without)
		}
	}
}

func TestBadConfigNamesTheFlag(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no users", func(c *Config) { c.Users = 0 }, "users must be at least 1"},
		{"no pace", func(c *Config) { c.PerSecond = 0 }, "per-second must be at least 1"},
		{"negative hot devices", func(c *Config) { c.HotDevices = -1 }, "hot-devices must not be negative"},
		{"an anonymous share over 1", func(c *Config) { c.AnonymousShare = 1.5 }, "anonymous must be between 0 and 1"},
		{"a negative hot share", func(c *Config) { c.HotShare = -0.1 }, "hot-share must be between 0 and 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRegisterFlagsSetsEveryField(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	err := fs.Parse([]string{"-seed", "9", "-users", "12", "-anonymous", "0.5", "-hot-devices", "2", "-hot-share", "0.25",
		"-start", "1800000000", "-per-second", "7", "-userless"})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Seed: 9, Users: 12, AnonymousShare: 0.5, HotDevices: 2, HotShare: 0.25, StartTime: 1_800_000_000, PerSecond: 7, Userless: true}
	if cfg != want {
		t.Fatalf("config %+v, want %+v", cfg, want)
	}
	untouched := DefaultConfig()
	fs = flag.NewFlagSet("gen", flag.ContinueOnError)
	untouched.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil || untouched != DefaultConfig() {
		t.Fatalf("without flags the config is %+v (%v), want the defaults", untouched, err)
	}
}

func BenchmarkNext(b *testing.B) {
	g, _ := New(DefaultConfig())
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = g.Next(buf[:0])
	}
}
