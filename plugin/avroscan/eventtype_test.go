package avroscan

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

func TestEveryBrazeSchemaNameGivesItsEventType(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(samples.Dir(t), "schemas", "*.avsc"))
	if err != nil || len(paths) < 100 {
		t.Fatalf("found %d schemas: %v", len(paths), err)
	}
	for _, p := range paths {
		schema, err := avro.ParseFiles(p)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(filepath.Base(p), ".avsc")
		got, ok := eventTypeFromSchemaName(schema.(*avro.RecordSchema).FullName())
		if !ok || got != want {
			t.Errorf("%s: got %q (conclusive: %v), want %q", p, got, ok, want)
		}
	}
}

func TestSchemaNamesThatDoNotNameACurrentsType(t *testing.T) {
	for name, want := range map[string]string{
		"dataexport.S3.inner.users.behaviors.Purchase":   "users.behaviors.Purchase",
		"dataexport.GCS.inner.users.messages.email.Open": "users.messages.email.Open",
		"dataexport.S3.inner.contentoptimizer.Component": "contentoptimizer.Component",
		"users.messages.pushnotification.InfluencedOpen": "users.messages.pushnotification.InfluencedOpen",
		"com.braze.currents.users.behaviors.CustomEvent": "users.behaviors.CustomEvent",
		"Purchase":                     "",
		"users":                        "",
		"dataexport.S3.inner.Purchase": "",
		"com.example.Thing":            "",
		"io.confluent.connect.avro.ConnectDefault":         "",
		"dataexport.S3.integration.5f3e.users.behaviors.X": "users.behaviors.X",
	} {
		got, ok := eventTypeFromSchemaName(name)
		if got != want || ok != (want != "") {
			t.Errorf("%s: got %q, %v; want %q", name, got, ok, want)
		}
	}
}

func TestEventTypeSegmentOfAnObjectKey(t *testing.T) {
	for path, want := range map[string]string{
		"currents/dataexport.prod-01.S3.integration.5f3e/event_type=users.behaviors.Purchase/date=2024-01-01-00/version=10/prod/x+0+000.avro": "users.behaviors.Purchase",
		"/data/event_type=users.messages.email.Open/date=2024-01-01-00/a.avro":                                                                "users.messages.email.Open",
		`C:\exports\event_type=users.canvas.Entry\date=2024-01-01-00\a.avro`:                                                                  "users.canvas.Entry",
		"event_type=users.UserOrphan/a.avro":                                                                                                  "users.UserOrphan",
		"/data/event_type=/a.avro":                                                                                                            "",
		"/data/users.behaviors.Purchase/a.avro":                                                                                               "",
		"/data/my_event_type=users.behaviors.Purchase/a.avro":                                                                                 "",
	} {
		got, ok := eventTypeFromPath(path)
		if got != want || ok != (want != "") {
			t.Errorf("%s: got %q, %v; want %q", path, got, ok, want)
		}
	}
}
