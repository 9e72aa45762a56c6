package cohorts

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// The seed's example: a cohort named TEST_COHORT with cohort_id abcd1234
// appears in Braze as `[Amplitude] TEST_COHORT: abcd1234`.
func TestBrazeNameFollowsTheSeedsFormatExactly(t *testing.T) {
	if got := BrazeName("TEST_COHORT", "abcd1234"); got != "[Amplitude] TEST_COHORT: abcd1234" {
		t.Fatalf("BrazeName = %q", got)
	}
	// Names are kept as Amplitude gives them: spaces, colons, brackets.
	if got := BrazeName("Power users: EU [beta]", "7khm89cz"); got != "[Amplitude] Power users: EU [beta]: 7khm89cz" {
		t.Fatalf("BrazeName = %q", got)
	}
}

// The default payload of Amplitude's Cohort Webhooks documentation.
const documentedDelivery = `{
    "cohort_name": "My Test Cohort",
    "cohort_id": "7khm89cz",
    "in_cohort": true,
    "computed_time": "1692206763",
    "message_id": "9baaa88f-9d46-4ee5-a946-be0c6aea0046::enter::0",
    "users": [
      {"user_id": "user_one@example.com"},
      {"user_id": "user_two@example.com", "user_properties": {"country": "US"}},
      {"user_id": "user_three@example.com"}
    ]
}`

func TestParseDeliveryReadsAmplitudesDocumentedPayload(t *testing.T) {
	d, err := ParseDelivery([]byte(documentedDelivery))
	if err != nil {
		t.Fatal(err)
	}
	want := Delivery{CohortID: "7khm89cz", CohortName: "My Test Cohort", InCohort: true, ComputedTime: "1692206763",
		MessageID: "9baaa88f-9d46-4ee5-a946-be0c6aea0046::enter::0",
		Users:     []User{{UserID: "user_one@example.com"}, {UserID: "user_two@example.com"}, {UserID: "user_three@example.com"}}}
	if d.CohortID != want.CohortID || d.CohortName != want.CohortName || d.InCohort != want.InCohort ||
		d.ComputedTime != want.ComputedTime || d.MessageID != want.MessageID || !slices.Equal(d.Users, want.Users) {
		t.Fatalf("ParseDelivery = %+v, want %+v", d, want)
	}
	changes := d.Changes()
	if len(changes) != 3 || changes[1] != (Change{CohortID: "7khm89cz", CohortName: "My Test Cohort", InCohort: true,
		UserID: "user_two@example.com", MessageID: want.MessageID, ComputedTime: "1692206763"}) {
		t.Fatalf("Changes = %+v", changes)
	}
	// The record a change travels as reads back the same.
	back, err := ParseChange(changes[1].Marshal())
	if err != nil || back != changes[1] {
		t.Fatalf("ParseChange(Marshal) = %+v, %v", back, err)
	}
}

func TestParseDeliveryAcceptsWhatCustomTemplatesWrite(t *testing.T) {
	d, err := ParseDelivery([]byte(`{"cohort_name":"A","cohort_id":"1","in_cohort":"false","computed_time":1692206763,"message_id":"m",
		"users":[{"user_id":null,"device_id":"dev-1"},{"user_id":"","device_id":"dev-2"},{"user_id":"u","device_id":"dev-3"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.InCohort || d.ComputedTime != "1692206763" {
		t.Fatalf("in_cohort %v, computed_time %q", d.InCohort, d.ComputedTime)
	}
	want := []User{{DeviceID: "dev-1"}, {DeviceID: "dev-2"}, {UserID: "u"}}
	if !slices.Equal(d.Users, want) {
		t.Fatalf("users %+v, want %+v", d.Users, want)
	}
}

func TestParseDeliveryNamesTheFieldAtFault(t *testing.T) {
	base := map[string]any{"cohort_name": "A", "cohort_id": "1", "in_cohort": true, "message_id": "m", "users": []any{}}
	with := func(k string, v any) string {
		m := map[string]any{}
		for key, val := range base {
			m[key] = val
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct{ name, body, err string }{
		{"not JSON", `{"cohort_id":`, "body: not a JSON object"},
		{"an array", `[]`, "body: not a JSON object"},
		{"no cohort_id", with("cohort_id", nil), "cohort_id: missing"},
		{"an empty cohort_id", with("cohort_id", ""), "cohort_id: empty"},
		{"a numeric cohort_id", with("cohort_id", 12), "cohort_id: must be a string"},
		{"no cohort_name", with("cohort_name", nil), "cohort_name: missing"},
		{"no in_cohort", with("in_cohort", nil), "in_cohort: missing"},
		{"in_cohort as yes", with("in_cohort", "yes"), "in_cohort: must be true or false"},
		{"no message_id", with("message_id", nil), "message_id: missing (the deduplication"},
		{"computed_time as an object", with("computed_time", map[string]any{}), "computed_time: must be a string or a number"},
		{"no users", with("users", nil), "users: missing"},
		{"users as an object", with("users", map[string]any{}), "users: must be an array of objects"},
		{"a user that is not an object", with("users", []any{map[string]any{"user_id": "a"}, "b"}), "users: must be an array of objects"},
		{"a null user", with("users", []any{nil}), "users[0]: must be an object"},
		{"a numeric user_id", with("users", []any{map[string]any{"user_id": "a"}, map[string]any{"user_id": 7}}), "users[1].user_id: must be a string"},
		{"a numeric device_id", with("users", []any{map[string]any{"device_id": 7}}), "users[0].device_id: must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDelivery([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestParseChangeNamesTheFieldAtFault(t *testing.T) {
	tests := []struct{ body, err string }{
		{`nope`, "must be a JSON object"},
		{`{"cohort_name":"A","in_cohort":true}`, "cohort_id: missing"},
		{`{"cohort_id":"1","in_cohort":true}`, "cohort_name: missing"},
		{`{"cohort_id":"1","cohort_name":"A"}`, "in_cohort: missing"},
		{`{"cohort_id":"1","cohort_name":"A","in_cohort":true,"user_id":5}`, "user_id: must be a string"},
		{`{"cohort_id":"1","cohort_name":"A","in_cohort":true,"device_id":[]}`, "device_id: must be a string"},
		{`{"cohort_id":"1","cohort_name":"A","in_cohort":true,"message_id":{}}`, "message_id: must be a string"},
	}
	for _, tt := range tests {
		if _, err := ParseChange([]byte(tt.body)); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseChange(%s): error %v, want one containing %q", tt.body, err, tt.err)
		}
	}
}

func TestMappingWritesTheBrazeNameAsArrayOrBoolean(t *testing.T) {
	array := Mapping{Mode: Array, Attribute: "amplitude_cohorts", AliasLabel: "amplitude_device_id"}
	boolean := Mapping{Mode: Boolean, AliasLabel: "amplitude_device_id"}
	alias := Mapping{Mode: Array, Attribute: "amplitude_cohorts", Anonymous: Alias, AliasLabel: "amplitude_device_id"}
	enter := Change{CohortID: "abcd1234", CohortName: "TEST_COHORT", InCohort: true, UserID: "user-1"}
	leave := enter
	leave.InCohort = false
	anonymous := Change{CohortID: "abcd1234", CohortName: "TEST_COHORT", InCohort: true, DeviceID: "device-9"}
	tests := []struct {
		name    string
		m       Mapping
		c       Change
		want    string
		skipped bool
	}{
		{"entering adds the name to the array", array, enter, `{"amplitude_cohorts":{"add":["[Amplitude] TEST_COHORT: abcd1234"]},"external_id":"user-1"}`, false},
		{"leaving removes it", array, leave, `{"amplitude_cohorts":{"remove":["[Amplitude] TEST_COHORT: abcd1234"]},"external_id":"user-1"}`, false},
		{"entering sets the boolean", boolean, enter, `{"[Amplitude] TEST_COHORT: abcd1234":true,"external_id":"user-1"}`, false},
		{"leaving clears it", boolean, leave, `{"[Amplitude] TEST_COHORT: abcd1234":false,"external_id":"user-1"}`, false},
		{"an anonymous user is skipped by default", array, anonymous, ``, true},
		{"or matched through the alias", alias, anonymous, `{"amplitude_cohorts":{"add":["[Amplitude] TEST_COHORT: abcd1234"]},"user_alias":{"alias_label":"amplitude_device_id","alias_name":"device-9"}}`, false},
		{"a user with neither id is skipped", alias, Change{CohortID: "1", CohortName: "A", InCohort: true}, ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, skip, err := tt.m.Object(tt.c)
			if err != nil || skip != tt.skipped || string(obj) != tt.want {
				t.Fatalf("Object = %s, %v, %v; want %s, %v", obj, skip, err, tt.want, tt.skipped)
			}
		})
	}
}

func TestMappingRefusesANameBrazeCannotHold(t *testing.T) {
	c := Change{CohortID: "abcd1234", CohortName: strings.Repeat("n", 240), InCohort: true, UserID: "u"}
	_, _, err := Mapping{Attribute: "a"}.Object(c)
	if err == nil || !strings.Contains(err.Error(), "cohort_name: the Braze name") || !strings.Contains(err.Error(), "255") {
		t.Fatalf("error %v", err)
	}
	for _, c := range []Change{{CohortName: "A", UserID: "u"}, {CohortID: "1", UserID: "u"}} {
		if _, _, err := (Mapping{Attribute: "a"}).Object(c); err == nil {
			t.Errorf("Object(%+v) mapped a change without a cohort id or name", c)
		}
	}
}

func TestDiffFindsWhoEnteredAndWhoLeft(t *testing.T) {
	tests := []struct{ before, now, entered, left []string }{
		{nil, nil, nil, nil},
		{nil, []string{"a", "b"}, []string{"a", "b"}, nil},
		{[]string{"a", "b"}, nil, nil, []string{"a", "b"}},
		{[]string{"a", "c", "e"}, []string{"b", "c", "d", "e", "f"}, []string{"b", "d", "f"}, []string{"a"}},
		{[]string{"a", "b"}, []string{"a", "b"}, nil, nil},
	}
	for _, tt := range tests {
		entered, left := Diff(tt.before, tt.now)
		if !slices.Equal(entered, tt.entered) || !slices.Equal(left, tt.left) {
			t.Errorf("Diff(%v, %v) = %v, %v; want %v, %v", tt.before, tt.now, entered, left, tt.entered, tt.left)
		}
	}
	before := Members{Users: []string{"u1", "u2"}, Devices: []string{"d1"}}
	now := Members{Users: []string{"u2", "u3"}, Devices: []string{"d2"}}
	got := now.Changes(before, "c1", "A", "export:c1:r1", "99")
	want := []Change{
		{CohortID: "c1", CohortName: "A", InCohort: true, UserID: "u3", MessageID: "export:c1:r1", ComputedTime: "99"},
		{CohortID: "c1", CohortName: "A", InCohort: false, UserID: "u1", MessageID: "export:c1:r1", ComputedTime: "99"},
		{CohortID: "c1", CohortName: "A", InCohort: true, DeviceID: "d2", MessageID: "export:c1:r1", ComputedTime: "99"},
		{CohortID: "c1", CohortName: "A", InCohort: false, DeviceID: "d1", MessageID: "export:c1:r1", ComputedTime: "99"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Changes = %+v\nwant %+v", got, want)
	}
}

func TestParseMembersReadsTheExportFile(t *testing.T) {
	csvFile := "\ufeff\"amplitude_id\",\"user_id\",\"device_id\",\"country\"\n" +
		"\"1\",\"u2\",\"\",\"US\"\n1,u1,,FR\n2,,dev-1,\n3,null,,\n4,u1,,\n"
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write([]byte(csvFile))
	_ = zw.Close()
	for name, in := range map[string][]byte{"plain": []byte(csvFile), "gzip": zipped.Bytes()} {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMembers(bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Users, []string{"u1", "u2"}) || !slices.Equal(m.Devices, []string{"dev-1"}) {
				t.Fatalf("members %+v", m)
			}
		})
	}
	bad := []struct{ name, in, err string }{
		{"empty", "", "empty, not even a header row"},
		{"no user_id column", "amplitude_id,id\n1,2\n", "has no user_id column"},
		{"a broken quote", "user_id\n\"u1\n", "cohort file:"},
	}
	for _, tt := range bad {
		if _, err := ParseMembers(strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.err)
		}
	}
}

func TestParseCohortListAndRequestAnswers(t *testing.T) {
	list, err := ParseCohortList([]byte(`{"cohorts":[{"id":"a","name":"A","lastComputed":1700000000000,"archived":false},{"id":"b","name":"B","lastComputed":"2024-01-01T00:00:00"},{"id":"c","name":"C"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []CohortInfo{{ID: "a", Name: "A", LastComputed: "1700000000000"}, {ID: "b", Name: "B", LastComputed: "2024-01-01T00:00:00"}, {ID: "c", Name: "C"}}
	if !slices.Equal(list, want) {
		t.Fatalf("ParseCohortList = %+v", list)
	}
	if _, err := ParseCohortList([]byte(`{"cohorts":[{"name":"A"}]}`)); err == nil || !strings.Contains(err.Error(), "cohorts[0].id: missing") {
		t.Errorf("error %v", err)
	}
	if _, err := ParseCohortList([]byte(`[]`)); err == nil {
		t.Error("a list that is not the documented object was accepted")
	}
	a, err := ParseRequestAnswer([]byte(`{"request_id":"r1","cohort_id":"a","async_status":"JOB COMPLETED"}`))
	if err != nil || a.RequestID != "r1" || a.AsyncStatus != StatusCompleted {
		t.Fatalf("ParseRequestAnswer = %+v, %v", a, err)
	}
	if _, err := ParseRequestAnswer([]byte(`{"cohort_id":"a"}`)); err == nil || !strings.Contains(err.Error(), "request_id: missing") {
		t.Errorf("error %v", err)
	}
}

func TestTheScheduleFitsTheMonthlyBudget(t *testing.T) {
	for _, n := range []int{1, 3, 10, 20, 100} {
		d := MinInterval(n, MonthlyRequestBudget)
		if got := RequestsPerMonth(n, d); got > MonthlyRequestBudget {
			t.Errorf("%d cohorts every %s: %d requests a month, over %d", n, d, got, MonthlyRequestBudget)
		}
		if got := RequestsPerMonth(n, d-time.Minute); got <= MonthlyRequestBudget {
			t.Errorf("%d cohorts: %s is not the shortest interval, %s fits too (%d requests)", n, d, d-time.Minute, got)
		}
	}
	// The docs' table: 1 cohort every 2h, 3 every 5h, 10 every 15h, 16 daily.
	for _, c := range []struct {
		n        int
		interval time.Duration
	}{{1, 2 * time.Hour}, {3, 5 * time.Hour}, {10, 15 * time.Hour}, {16, 24 * time.Hour}} {
		if got := RequestsPerMonth(c.n, c.interval); got > MonthlyRequestBudget {
			t.Errorf("%d cohorts every %s: %d requests a month", c.n, c.interval, got)
		}
	}
	if got := MinInterval(600, MonthlyRequestBudget); got <= Month {
		t.Errorf("600 cohorts fit 500 requests a month every %s", got)
	}
}

func TestStateRoundTripsAndCountsRequestsByMonth(t *testing.T) {
	s := NewState()
	s.Cohorts["a"] = CohortState{Name: "A", LastComputed: "5", SyncedAt: time.Unix(1700000000, 0).UTC(), Members: Members{Users: []string{"u1"}}}
	jan, feb := time.Date(2025, 1, 31, 23, 0, 0, 0, time.UTC), time.Date(2025, 2, 1, 1, 0, 0, 0, time.UTC)
	s.CountRequest(jan)
	s.CountRequest(jan)
	back, err := ParseState(s.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if back.Requests["2025-01"] != 2 || !slices.Equal(back.Cohorts["a"].Members.Users, []string{"u1"}) || !back.Cohorts["a"].SyncedAt.Equal(s.Cohorts["a"].SyncedAt) {
		t.Fatalf("state %+v", back)
	}
	back.CountRequest(feb)
	if back.Requests["2025-02"] != 1 || len(back.Requests) != 1 {
		t.Fatalf("a new month kept the old count: %v", back.Requests)
	}
	if empty, err := ParseState([]byte("  \n")); err != nil || len(empty.Cohorts) != 0 {
		t.Fatalf("empty file: %+v, %v", empty, err)
	}
	for _, bad := range []string{`{"version":2}`, `not json`} {
		if _, err := ParseState([]byte(bad)); err == nil {
			t.Errorf("ParseState(%s) accepted it", bad)
		}
	}
}
