package backfill

import (
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

const integration = "currents/dataexport.prod-01.S3.integration.5f3e"

// archiveFS is a small archive in Braze's layout: three event types over
// three hours, with the clutter a copied bucket has.
func archiveFS() fstest.MapFS {
	m := fstest.MapFS{}
	for _, et := range []string{"users.messages.email.Open", "users.messages.email.Click", "users.behaviors.Purchase"} {
		for _, hour := range []string{"2024-01-01-23", "2024-01-02-00", "2024-01-02-01"} {
			dir := integration + "/event_type=" + et + "/date=" + hour + "/version=10/prod/"
			m[dir+et+"+0+0000000001.avro"] = &fstest.MapFile{Data: []byte("12345")}
			m[dir+et+"+1+0000000007.avro"] = &fstest.MapFile{Data: []byte("1234567")}
		}
	}
	m[integration+"/_manifest.json"] = &fstest.MapFile{Data: []byte("{}")}
	m[integration+"/event_type=users.behaviors.Purchase/date=2024-01-02-00/version=10/prod/.part-upload"] = &fstest.MapFile{}
	m["currents/README.txt"] = &fstest.MapFile{}
	return m
}

// recordingFS remembers every path opened or listed.
type recordingFS struct {
	fs.FS
	mu      sync.Mutex
	touched []string
}

func (r *recordingFS) Open(name string) (fs.File, error) {
	r.mu.Lock()
	r.touched = append(r.touched, name)
	r.mu.Unlock()
	return r.FS.Open(name)
}

func TestWalkListsTheSelectedFilesByHourThenPath(t *testing.T) {
	sel, err := NewSelection([]string{"users.messages.email.*"}, "2024-01-02", "")
	if err != nil {
		t.Fatal(err)
	}
	files, err := Walk(archiveFS(), sel)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, strings.TrimPrefix(f.Path, integration+"/")+" "+f.EventType+" "+f.Hour.Format(hourLayout)+" "+string(rune('0'+f.Size)))
	}
	want := []string{
		"event_type=users.messages.email.Click/date=2024-01-02-00/version=10/prod/users.messages.email.Click+0+0000000001.avro users.messages.email.Click 2024-01-02-00 5",
		"event_type=users.messages.email.Click/date=2024-01-02-00/version=10/prod/users.messages.email.Click+1+0000000007.avro users.messages.email.Click 2024-01-02-00 7",
		"event_type=users.messages.email.Open/date=2024-01-02-00/version=10/prod/users.messages.email.Open+0+0000000001.avro users.messages.email.Open 2024-01-02-00 5",
		"event_type=users.messages.email.Open/date=2024-01-02-00/version=10/prod/users.messages.email.Open+1+0000000007.avro users.messages.email.Open 2024-01-02-00 7",
		"event_type=users.messages.email.Click/date=2024-01-02-01/version=10/prod/users.messages.email.Click+0+0000000001.avro users.messages.email.Click 2024-01-02-01 5",
		"event_type=users.messages.email.Click/date=2024-01-02-01/version=10/prod/users.messages.email.Click+1+0000000007.avro users.messages.email.Click 2024-01-02-01 7",
		"event_type=users.messages.email.Open/date=2024-01-02-01/version=10/prod/users.messages.email.Open+0+0000000001.avro users.messages.email.Open 2024-01-02-01 5",
		"event_type=users.messages.email.Open/date=2024-01-02-01/version=10/prod/users.messages.email.Open+1+0000000007.avro users.messages.email.Open 2024-01-02-01 7",
	}
	if !slices.Equal(got, want) {
		t.Errorf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWalkNeverListsOrOpensOutsideTheSelection(t *testing.T) {
	sel, err := NewSelection([]string{"users.behaviors.Purchase"}, "2024-01-02-01", "2024-01-02-01")
	if err != nil {
		t.Fatal(err)
	}
	fsys := &recordingFS{FS: archiveFS()}
	files, err := Walk(fsys, sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("got %d files, want the 2 of one type and hour", len(files))
	}
	selected := integration + "/event_type=users.behaviors.Purchase/date=2024-01-02-01"
	allowed := []string{".", "currents", integration, integration + "/event_type=users.behaviors.Purchase"}
	for _, p := range fsys.touched {
		if !slices.Contains(allowed, p) && p != selected && !strings.HasPrefix(p, selected+"/") {
			t.Errorf("listed or opened %s, outside the selection", p)
		}
	}
}

func TestWalkFailsOnADateItCannotRead(t *testing.T) {
	m := archiveFS()
	m[integration+"/event_type=users.behaviors.Purchase/date=last-tuesday/f.avro"] = &fstest.MapFile{}
	_, err := Walk(m, Selection{})
	if err == nil || !strings.Contains(err.Error(), "event_type=users.behaviors.Purchase/date=last-tuesday") || !strings.Contains(err.Error(), "YYYY-MM-DD-HH") {
		t.Fatalf("error = %v, want one naming the directory and the expected format", err)
	}
}

func TestWalkFindsIntegrationsAtAnyDepthAndReadsDayDirectories(t *testing.T) {
	m := fstest.MapFS{
		"a/b/c/dataexport.x.S3.integration.1/event_type=users.behaviors.Purchase/date=2024-03-01/0.avro": {},
		"dataexport.x.S3.integration.2/event_type=users.behaviors.Purchase/date=2024-03-02-05/0.avro":    {},
	}
	sel, _ := NewSelection(nil, "2024-03-01-12", "2024-03-02-05")
	files, err := Walk(m, sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Hour != time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("files %+v", files)
	}
}

func TestSelectionBoundsIncludeTheirWholeHourOrDay(t *testing.T) {
	h := func(s string) time.Time { t, _, _ := ParseDate(s); return t }
	for _, tc := range []struct {
		from, to string
		hour     string
		want     bool
	}{
		{"", "", "2024-01-01-00", true},
		{"2024-01-02", "", "2024-01-01-23", false},
		{"2024-01-02", "", "2024-01-02-00", true},
		{"", "2024-01-02", "2024-01-02-23", true},
		{"", "2024-01-02", "2024-01-03-00", false},
		{"2024-01-02-05", "2024-01-02-05", "2024-01-02-05", true},
		{"2024-01-02-05", "2024-01-02-05", "2024-01-02-06", false},
	} {
		sel, err := NewSelection(nil, tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		if got := sel.SelectsHours(h(tc.hour), h(tc.hour)); got != tc.want {
			t.Errorf("from %q to %q selects %s: %v, want %v", tc.from, tc.to, tc.hour, got, tc.want)
		}
	}
}

func TestSelectionTakesSeveralGlobsInOneEntry(t *testing.T) {
	sel, err := NewSelection([]string{"users.messages.email.*, users.behaviors.Purchase", "agentconsole.*"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for et, want := range map[string]bool{"users.messages.email.Open": true, "users.behaviors.Purchase": true, "agentconsole.ToolInvocation": true, "users.behaviors.CustomEvent": false} {
		if got := sel.SelectsType(et); got != want {
			t.Errorf("selects %s: %v, want %v", et, got, want)
		}
	}
}

func TestSelectionRejectsBadSettingsNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		types    []string
		from, to string
		want     string
	}{
		{nil, "2024-13-01", "", "from: "},
		{nil, "", "yesterday", "to: "},
		{nil, "2024-01-02", "2024-01-01", "is before from"},
		{[]string{""}, "", "", "event_types: empty"},
		{[]string{"users.*,"}, "", "", "event_types: empty"},
	} {
		if _, err := NewSelection(tc.types, tc.from, tc.to); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSelection(%q, %q, %q) = %v, want an error with %q", tc.types, tc.from, tc.to, err, tc.want)
		}
	}
}
