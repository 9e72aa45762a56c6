package currentsgen

import (
	"encoding/json"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/plugin/mapping"
)

func TestGeneratedEventsAreUniqueAndMap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Users = 50
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.New(mapping.DefaultOptions())
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
		if _, err := m.MapRaw(nil, ev); err == mapping.ErrExcluded {
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

func BenchmarkNext(b *testing.B) {
	g, _ := New(DefaultConfig())
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = g.Next(buf[:0])
	}
}
