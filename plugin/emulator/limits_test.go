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

func TestSlidingCounterForgetsExpiredSlots(t *testing.T) {
	c := newSlidingCounter(time.Second, 10)
	c.add(1, 5, t0)
	c.add(2, 1, t0.Add(500*time.Millisecond))
	c.add(1, 2, t0.Add(900*time.Millisecond))
	if got := c.count(1, t0.Add(999*time.Millisecond)); got != 7 {
		t.Errorf("count before expiry %d, want 7", got)
	}
	if got := c.count(1, t0.Add(time.Second)); got != 2 {
		t.Errorf("count once t0's slot expired %d, want 2", got)
	}
	// A clock going back counts into the newest slot instead of reviving old ones.
	if got := c.count(1, t0); got != 2 {
		t.Errorf("count with the clock back at t0: %d, want 2", got)
	}
	if got := c.count(1, t0.Add(time.Hour)); got != 0 || len(c.total) != 0 {
		t.Errorf("after an hour: count %d and %d ids held, want none", got, len(c.total))
	}
	for i, slot := range c.ring {
		if slot != nil {
			t.Errorf("slot %d still holds %d ids", i, len(slot))
		}
	}
}

func TestSlidingCounterShrinksItsTotals(t *testing.T) {
	c := newSlidingCounter(time.Second, 10)
	for key := range uint64(5000) {
		c.add(key, 1, t0)
	}
	c.add(1, 1, t0.Add(900*time.Millisecond))
	c.count(1, t0.Add(time.Second))
	if len(c.total) != 1 || c.peak != 1 {
		t.Errorf("totals hold %d ids (peak %d), want 1 after the rebuild", len(c.total), c.peak)
	}
}
