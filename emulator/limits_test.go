package emulator

import (
	"fmt"
	"testing"
	"time"
)

// step is one upload of a scenario, made after moving the clock by wait.
type step struct {
	wait   time.Duration
	path   string // default /2/httpapi
	body   string
	status int
	want   string // exact body; "" checks the status only
}

// runSteps plays steps against one emulator, checking each answer; it returns the
// emulator for checks on what was recorded.
func runSteps(t *testing.T, cfg Config, steps []step) *Server {
	t.Helper()
	c := newClock()
	cfg.Now = c.Now
	srv := start(t, cfg)
	for i, s := range steps {
		c.advance(s.wait)
		path := s.path
		if path == "" {
			path = pathHTTPV2
		}
		status, body := post(t, srv.URL+path, s.body, false)
		if status != s.status {
			t.Fatalf("step %d (at t0+%v): status %d, want %d: %s", i, c.Now().Sub(t0), status, s.status, body)
		}
		if s.want != "" {
			assertJSON(t, body, s.want)
		}
	}
	return srv
}

// devices returns n events of device (no user_id); users returns n events of user,
// each from its own device.
func devices(device string, n int) []string { return repeat(event(device, ""), n) }

func users(user string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = event(fmt.Sprintf("device-%d", i), user)
	}
	return out
}

func TestRateLimits(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		steps    []step
		ingested int
	}{
		{
			name: "HTTP V2 throttles a device past 30 events in its 1 s window, and only that device",
			steps: []step{
				{body: upload(devices("device-A", 30)...), status: 200},
				{wait: 500 * time.Millisecond, body: upload(event("device-A", ""), event("device-B", "")), status: 429,
					want: `{"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,
						"throttled_devices":{"device-A":31},"throttled_users":{},"throttled_events":[0]}`},
				// The 429 ingested nothing, device-B included, and counted nothing.
				{body: upload(devices("device-B", 30)...), status: 200},
				{wait: 400 * time.Millisecond, body: upload(event("device-A", "")), status: 429},
				// At t0+1s the events sent at t0 leave the window.
				{wait: 100 * time.Millisecond, body: upload(devices("device-A", 30)...), status: 200},
			},
			ingested: 90,
		},
		{
			name: "HTTP V2 throttles a user across devices",
			steps: []step{
				{body: upload(users("user-A", 31)...), status: 429,
					want: `{"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,
						"throttled_devices":{},"throttled_users":{"user-A":31},
						"throttled_events":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30]}`},
			},
		},
		{
			name: "a 429 names throttled devices and users together",
			cfg:  Config{HTTPV2EPS: 2},
			steps: []step{
				{body: upload(event("device-A", "user-1"), event("device-A", "user-2"), event("device-A", "user-3"),
					event("device-B", "user-X"), event("device-C", "user-X"), event("device-D", "user-X"), event("device-E", "user-5")),
					status: 429,
					want: `{"code":429,"error":"Too many requests for some devices and users","eps_threshold":2,
						"throttled_devices":{"device-A":3},"throttled_users":{"user-X":3},"throttled_events":[0,1,2,3,4,5]}`},
			},
		},
		{
			name: "HTTPV2EPS and HTTPV2Window set the limit: 10 events over 2 s",
			cfg:  Config{HTTPV2EPS: 5, HTTPV2Window: 2 * time.Second},
			steps: []step{
				{body: upload(devices("device-A", 10)...), status: 200},
				{wait: 1900 * time.Millisecond, body: upload(event("device-A", "")), status: 429,
					want: `{"code":429,"error":"Too many requests for some devices and users","eps_threshold":5,
						"throttled_devices":{"device-A":5.5},"throttled_users":{},"throttled_events":[0]}`},
				{wait: 100 * time.Millisecond, body: upload(event("device-A", "")), status: 200},
			},
			ingested: 11,
		},
		{
			name: "Batch allows a device 2000 events in one request, which HTTP V2 throttles",
			steps: []step{
				{path: pathBatch, body: upload(devices("device-A", 2000)...), status: 200},
				{body: upload(devices("device-B", 2000)...), status: 429},
			},
			ingested: 2000,
		},
		{
			name: "Batch averages over 30 s",
			cfg:  Config{BatchEPS: 10},
			steps: []step{
				{path: pathBatch, body: upload(devices("device-A", 300)...), status: 200},
				{wait: 29 * time.Second, path: pathBatch, body: upload(event("device-A", "")), status: 429,
					want: `{"code":429,"error":"Too many requests for some devices and users","eps_threshold":10,
						"throttled_devices":{"device-A":10.033333333333333},"throttled_users":{},"throttled_events":[0]}`},
				{wait: time.Second, path: pathBatch, body: upload(devices("device-A", 300)...), status: 200},
			},
			ingested: 600,
		},
		{
			name: "each endpoint has its own eps window",
			steps: []step{
				{body: upload(devices("device-A", 30)...), status: 200},
				{path: pathBatch, body: upload(devices("device-A", 30)...), status: 200},
			},
			ingested: 60,
		},
		{
			name: "the daily quota refuses an id for a rolling 24 h, counted in hourly buckets",
			cfg:  Config{DailyQuota: 100},
			steps: []step{
				{body: upload(devices("device-A", 30)...), status: 200},
				{wait: 30 * time.Minute, body: upload(devices("device-A", 30)...), status: 200},
				{wait: time.Hour, body: upload(devices("device-A", 30)...), status: 200},
				{wait: 10 * time.Hour, body: upload(append(devices("device-A", 11), event("device-B", "user-B"))...), status: 429,
					want: `{"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,
						"throttled_devices":{},"throttled_users":{},"throttled_events":[0,1,2,3,4,5,6,7,8,9,10],
						"exceeded_daily_quota_devices":{"device-A":101}}`},
				{body: upload(devices("device-A", 10)...), status: 200},
				// t0+23h59m: the t0 hour still counts.
				{wait: 12*time.Hour + 29*time.Minute, body: upload(event("device-A", "")), status: 429},
				// t0+24h: the two t0 requests (60 events) leave the window.
				{wait: time.Minute, body: upload(devices("device-A", 30)...), status: 200},
			},
			ingested: 130,
		},
		{
			name: "the daily quota counts users too, across endpoints",
			cfg:  Config{DailyQuota: 40},
			steps: []step{
				{body: upload(users("user-A", 30)...), status: 200},
				{path: pathBatch, body: upload(users("user-A", 11)...), status: 429,
					want: `{"code":429,"error":"Too many requests for some devices and users","eps_threshold":1000,
						"throttled_devices":{},"throttled_users":{},"throttled_events":[0,1,2,3,4,5,6,7,8,9,10],
						"exceeded_daily_quota_users":{"user-A":41}}`},
			},
			ingested: 30,
		},
		{
			name: "DailyQuota below zero disables the daily quota only",
			cfg:  Config{DailyQuota: -1, BatchEPS: 1e6},
			steps: []step{
				{path: pathBatch, body: upload(devices("device-A", 2000)...), status: 200},
				{path: pathBatch, body: upload(devices("device-A", 2000)...), status: 200},
				{body: upload(devices("device-A", 31)...), status: 429},
			},
			ingested: 4000,
		},
		{
			name: "DisableRateLimits turns off eps and daily checks",
			cfg:  Config{DisableRateLimits: true, DailyQuota: 10},
			steps: []step{
				{body: upload(devices("device-A", 2000)...), status: 200},
				{body: upload(devices("device-A", 2000)...), status: 200},
			},
			ingested: 4000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := runSteps(t, tt.cfg, tt.steps)
			if got := len(srv.Events()); got != tt.ingested {
				t.Errorf("%d events recorded, want %d", got, tt.ingested)
			}
		})
	}
}

// counted adds n events for key in window w of s at now, as the limiter does.
func counted(s *windowSet, key uint64, w int, n int64, now time.Time) {
	s.add(key, s.row(key, now), w, n, now)
}

func countOf(s *windowSet, key uint64, w int, now time.Time) int64 {
	return s.count(s.row(key, now), w, now)
}

func TestWindowSetForgetsExpiredSlots(t *testing.T) {
	s := newWindowSet([]time.Duration{time.Second}, []int{10})
	counted(s, 1, 0, 5, t0)
	counted(s, 2, 0, 1, t0.Add(500*time.Millisecond))
	counted(s, 1, 0, 2, t0.Add(900*time.Millisecond))
	if got := countOf(s, 1, 0, t0.Add(999*time.Millisecond)); got != 7 {
		t.Errorf("count before expiry %d, want 7", got)
	}
	if got := countOf(s, 1, 0, t0.Add(time.Second)); got != 2 {
		t.Errorf("count once t0's slot expired %d, want 2", got)
	}
	// A clock going back counts as the latest time seen instead of reviving old slots.
	if got := countOf(s, 1, 0, t0); got != 2 {
		t.Errorf("count with the clock back at t0: %d, want 2", got)
	}
	// An event counted with the clock back at t0 counts as at t0+1s.
	counted(s, 1, 0, 1, t0)
	for _, c := range []struct {
		at   time.Duration
		want int64
	}{{1800 * time.Millisecond, 3}, {1900 * time.Millisecond, 1}, {2 * time.Second, 0}} {
		if got := countOf(s, 1, 0, t0.Add(c.at)); got != c.want {
			t.Errorf("count at t0+%v: %d, want %d", c.at, got, c.want)
		}
	}
}

func TestWindowSetKeepsEachWindowApart(t *testing.T) {
	s := newWindowSet([]time.Duration{time.Second, 24 * time.Hour}, []int{10, 24})
	counted(s, 1, 0, 30, t0)
	counted(s, 1, 1, 30, t0)
	counted(s, 1, 1, 5, t0.Add(2*time.Second))
	for _, c := range []struct {
		window int
		at     time.Duration
		want   int64
	}{
		{window: 0, at: 2 * time.Second, want: 0},
		{window: 1, at: 2 * time.Second, want: 35},
		{window: 1, at: 23*time.Hour + 59*time.Minute, want: 35},
		{window: 1, at: 24 * time.Hour, want: 0},
	} {
		if got := countOf(s, 1, c.window, t0.Add(c.at)); got != c.want {
			t.Errorf("window %d at t0+%v: count %d, want %d", c.window, c.at, got, c.want)
		}
	}
}

func TestWindowSetFreesTheRowsOfForgottenIDs(t *testing.T) {
	s := newWindowSet([]time.Duration{time.Second}, []int{10})
	for key := range uint64(5000) {
		counted(s, key, 0, 1, t0)
	}
	counted(s, 1, 0, 1, t0.Add(900*time.Millisecond))
	rows := s.used
	// A sweep runs an eighth of the window after the last one, at the first lookup.
	later := t0.Add(1100 * time.Millisecond)
	if got := countOf(s, 1, 0, later); got != 1 {
		t.Errorf("count of the id still in its window %d, want 1", got)
	}
	if len(s.rows) != 1 || s.peak != 1 {
		t.Errorf("%d ids held (peak %d), want 1 after the sweep and rebuild", len(s.rows), s.peak)
	}
	for key := uint64(10_000); key < 10_000+4999; key++ {
		counted(s, key, 0, 1, later)
	}
	if got := s.used; got != rows {
		t.Errorf("%d rows after as many new ids as were forgotten, want the %d rows reused", got, rows)
	}
	if got := countOf(s, 0, 0, later); got != 0 {
		t.Errorf("a forgotten id whose row was reused counts %d, want 0", got)
	}
}
