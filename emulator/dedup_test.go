package emulator

import (
	"strconv"
	"testing"
	"time"
)

func withInsertID(device, user, insertID string) string {
	return event(device, user, `"insert_id":"`+insertID+`"`)
}

func TestDeduplication(t *testing.T) {
	const week = 7 * 24 * time.Hour
	tests := []struct {
		name         string
		cfg          Config
		steps        []step
		ingested     int
		deduplicated int64
	}{
		{
			name: "a repeated insert_id on the same device is acknowledged but not ingested again",
			steps: []step{
				{body: upload(withInsertID("device-1", "user-1", "ins-1")), status: 200},
				{body: upload(withInsertID("device-1", "user-1", "ins-1"), withInsertID("device-1", "user-1", "ins-2")), status: 200},
			},
			ingested: 2, deduplicated: 1,
		},
		{
			name: "a repeat within one request is deduplicated",
			steps: []step{
				{body: upload(withInsertID("device-1", "", "ins-1"), withInsertID("device-1", "", "ins-1")), status: 200},
			},
			ingested: 1, deduplicated: 1,
		},
		{
			name: "the same insert_id on another device is another event",
			steps: []step{
				{body: upload(withInsertID("device-1", "user-1", "ins-1"), withInsertID("device-2", "user-1", "ins-1")), status: 200},
			},
			ingested: 2,
		},
		{
			name: "the device_id scopes the insert_id, whatever the user_id",
			steps: []step{
				{body: upload(withInsertID("device-1", "user-1", "ins-1"), withInsertID("device-1", "user-2", "ins-1")), status: 200},
			},
			ingested: 1, deduplicated: 1,
		},
		{
			name: "without device_id the user_id scopes the insert_id",
			steps: []step{
				{body: upload(withInsertID("", "user-1", "ins-1"), withInsertID("", "user-1", "ins-1"), withInsertID("", "user-2", "ins-1")), status: 200},
			},
			ingested: 2, deduplicated: 1,
		},
		{
			name: "an insert_id is remembered for 7 days",
			steps: []step{
				{body: upload(withInsertID("device-1", "", "ins-1")), status: 200},
				{wait: week - time.Millisecond, body: upload(withInsertID("device-1", "", "ins-1")), status: 200},
				{wait: time.Millisecond, body: upload(withInsertID("device-1", "", "ins-1")), status: 200},
			},
			ingested: 2, deduplicated: 1,
		},
		{
			name: "DedupWindow sets how long",
			cfg:  Config{DedupWindow: time.Minute},
			steps: []step{
				{body: upload(withInsertID("device-1", "", "ins-1")), status: 200},
				{wait: time.Minute, body: upload(withInsertID("device-1", "", "ins-1")), status: 200},
			},
			ingested: 2,
		},
		{
			name: "events without insert_id are never deduplicated",
			steps: []step{
				{body: upload(event("device-1", ""), event("device-1", "")), status: 200},
			},
			ingested: 2,
		},
		{
			name: "a refused request remembers no insert_id",
			steps: []step{
				{body: upload(withInsertID("device-1", "", "ins-1"), `{"device_id":"device-1"}`), status: 400},
				{body: upload(withInsertID("device-1", "", "ins-1")), status: 200},
			},
			ingested: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := runSteps(t, tt.cfg, tt.steps)
			if got := len(srv.Events()); got != tt.ingested {
				t.Errorf("%d events recorded, want %d", got, tt.ingested)
			}
			if got := srv.Stats().EventsDeduplicated; got != tt.deduplicated {
				t.Errorf("%d events deduplicated, want %d", got, tt.deduplicated)
			}
		})
	}
}

func TestDuplicatesCountInEventsIngested(t *testing.T) {
	// Amplitude deduplicates after answering, so events_ingested counts every event.
	srv := start(t, Config{})
	body := upload(withInsertID("device-1", "", "ins-1"), withInsertID("device-1", "", "ins-1"))
	_, got := post(t, srv.URL+pathHTTPV2, body, false)
	assertJSON(t, got, `{"code":200,"events_ingested":2,"payload_size_bytes":`+strconv.Itoa(len(body))+`,"server_upload_time":1735786800000}`)
}

func TestDedupSetDropsExpiredKeys(t *testing.T) {
	d := newDedupSet(8 * time.Hour)
	for key := range uint64(100) {
		d.firstSeen(key, t0)
	}
	d.firstSeen(1000, t0.Add(7*time.Hour))
	if !d.firstSeen(1, t0.Add(8*time.Hour)) {
		t.Error("a key 8 h old is still remembered")
	}
	if got := len(d.seenAt); got != 2 {
		t.Errorf("%d keys held after the sweep, want 2 (keys 1000 and 1)", got)
	}
}
