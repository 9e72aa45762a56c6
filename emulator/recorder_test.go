package emulator

import (
	"bytes"
	"errors"
	"testing"
)

func TestJSONLinesRecorderWritesOneLinePerAcceptedEvent(t *testing.T) {
	var out bytes.Buffer
	rec := NewJSONLinesRecorder(&out)
	srv := start(t, Config{Recorder: rec})
	pretty := "{\n  \"event_type\": \"e\",\n  \"device_id\": \"device-2\",\n  \"insert_id\": \"i-2\"\n}"
	body := upload(withInsertID("device-1", "", "i-1"), pretty, withInsertID("device-1", "", "i-1"))
	if status, got := post(t, srv.URL+pathBatch, body, false); status != 200 {
		t.Fatalf("status %d: %s", status, got)
	}
	post(t, srv.URL+pathBatch, `{"api_key":"k","events":[{"device_id":"device-3"}]}`, false) // refused: not recorded
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	want := withInsertID("device-1", "", "i-1") + "\n" +
		`{"event_type":"e","device_id":"device-2","insert_id":"i-2"}` + "\n"
	if out.String() != want {
		t.Errorf("recorded\n%s\nwant\n%s", out.String(), want)
	}
	if srv.Events() != nil {
		t.Error("Events() holds events although a Recorder was configured")
	}
}

func TestDiscardKeepsNothing(t *testing.T) {
	srv := start(t, Config{Recorder: Discard})
	post(t, srv.URL+pathHTTPV2, upload(event("device-1", "")), false)
	if srv.Events() != nil || srv.Stats().EventsIngested != 1 {
		t.Errorf("events %v, stats %d ingested; want none kept and 1 counted", srv.Events(), srv.Stats().EventsIngested)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

var errDiskFull = errors.New("disk full")

func TestJSONLinesRecorderReportsWriteErrors(t *testing.T) {
	rec := NewJSONLinesRecorder(failingWriter{})
	rec.Record([]Event{{Raw: []byte(`{}`)}})
	if err := rec.Flush(); err == nil {
		t.Error("Flush hid the write error")
	}
}
