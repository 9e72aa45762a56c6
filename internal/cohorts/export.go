package cohorts

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Rules of the Behavioral Cohorts API (export path):
//
//   - Get all cohorts: GET /api/3/cohorts -> {"cohorts":[{id, name,
//     lastComputed, size, archived, ...}]}.
//   - Get one cohort: GET /api/5/cohorts/request/{id} -> 202 {request_id,
//     cohort_id}. "For Growth and Enterprise plans, the Behavioral Cohorts
//     Download API has a limit of 500 requests per month. Each Get one
//     cohort request counts toward this limit."
//   - Get request status: GET /api/5/cohorts/request-status/{request_id} ->
//     202 "JOB INPROGRESS" while running, 200 "JOB COMPLETED" when done.
//   - Download: GET /api/5/cohorts/request/{request_id}/file -> the file,
//     or a 302 to a pre-signed URL valid for one minute; the request link
//     stays valid for seven days.
//   - "The concurrency limit is 5 requests across cohort downloads and the
//     Dashboard REST API", and single cohort requests are limited to "60
//     requests per 10 minutes per app, and 4 parallel requests per minute
//     per app". Authentication is HTTP Basic with the project's API key and
//     secret key. Hosts: https://amplitude.com, or
//     https://analytics.eu.amplitude.com for EU residency.
//
// Left open, and decided here:
//   - The file's format: the documentation does not describe it. Clients in
//     the wild read it as CSV with a header row naming its columns
//     (amplitude_id, user_id, then any properties asked for). ParseMembers
//     reads that: the column named user_id is required, a device_id column
//     is used when present, the others are ignored; a gzip-compressed file
//     is recognised by its magic bytes.
//   - Whether 500/month counts per project or per organisation: the export
//     input counts the requests it makes itself against a budget the user
//     sets (default 500), and the docs tell how to size the schedule.
const (
	ExportListPath    = "/api/3/cohorts"
	ExportRequestPath = "/api/5/cohorts/request/"        // + cohort id
	ExportStatusPath  = "/api/5/cohorts/request-status/" // + request id
	ExportFileSuffix  = "/file"                          // after ExportRequestPath + request id

	StatusInProgress = "JOB INPROGRESS"
	StatusCompleted  = "JOB COMPLETED"

	// MonthlyRequestBudget is the documented monthly limit on Get one cohort
	// requests for Growth and Enterprise plans.
	MonthlyRequestBudget = 500
	// MaxConcurrentRequests is the documented concurrency limit across
	// cohort downloads and the Dashboard REST API. The export input makes
	// one request at a time.
	MaxConcurrentRequests = 5
)

// ExportRegions are the Behavioral Cohorts API hosts by data residency.
var ExportRegions = map[string]string{
	"us": "https://amplitude.com",
	"eu": "https://analytics.eu.amplitude.com",
}

// Month is the month the budget is counted over: 31 days, the longest, so
// a schedule that fits it fits every month.
const Month = 31 * 24 * time.Hour

// RequestsPerMonth is how many Get one cohort requests polling n cohorts
// every interval makes in a month at most (a cohort whose lastComputed did
// not change is not requested, so this is the worst case).
func RequestsPerMonth(n int, interval time.Duration) int {
	if interval <= 0 {
		return 0
	}
	per := int(Month / interval)
	if Month%interval != 0 {
		per++
	}
	return n * per
}

// MinInterval is the shortest polling interval at which n cohorts fit a
// monthly budget of Get one cohort requests.
func MinInterval(n, budget int) time.Duration {
	if n <= 0 || budget <= 0 {
		return 0
	}
	perCohort := budget / n
	if perCohort == 0 {
		return Month + 1 // nothing fits
	}
	d := Month / time.Duration(perCohort)
	for RequestsPerMonth(n, d) > budget {
		d += time.Minute
	}
	return d
}

// CohortInfo is what the export path needs of a Get all cohorts entry.
type CohortInfo struct {
	ID   string
	Name string
	// LastComputed is the cohort's lastComputed as Amplitude gives it (the
	// documentation says "timestamp" without a format): compared as text,
	// "" when absent.
	LastComputed string
	Archived     bool
}

// ParseCohortList reads a Get all cohorts answer.
func ParseCohortList(body []byte) ([]CohortInfo, error) {
	var list struct {
		Cohorts []struct {
			ID           string          `json:"id"`
			Name         string          `json:"name"`
			LastComputed json.RawMessage `json:"lastComputed"`
			Archived     bool            `json:"archived"`
		} `json:"cohorts"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("cohort list: not the documented {\"cohorts\":[...]}: %w", err)
	}
	out := make([]CohortInfo, 0, len(list.Cohorts))
	for i, c := range list.Cohorts {
		if c.ID == "" {
			return nil, fmt.Errorf("cohort list: cohorts[%d].id: missing", i)
		}
		last := strings.TrimSpace(string(c.LastComputed))
		var s string
		if json.Unmarshal(c.LastComputed, &s) == nil {
			last = s
		}
		if last == "null" {
			last = ""
		}
		out = append(out, CohortInfo{ID: c.ID, Name: c.Name, LastComputed: last, Archived: c.Archived})
	}
	return out, nil
}

// RequestAnswer is a Get one cohort or Get request status answer.
type RequestAnswer struct {
	RequestID   string `json:"request_id"`
	CohortID    string `json:"cohort_id"`
	AsyncStatus string `json:"async_status"`
}

// ParseRequestAnswer reads a Get one cohort or Get request status answer.
func ParseRequestAnswer(body []byte) (RequestAnswer, error) {
	var a RequestAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("not a JSON object with request_id: %w", err)
	}
	if a.RequestID == "" {
		return a, errors.New("request_id: missing")
	}
	return a, nil
}

// Members is a cohort's membership: users by user_id, and users known only
// by a device id. Both lists are sorted and hold no duplicates.
type Members struct {
	Users   []string `json:"users"`
	Devices []string `json:"devices,omitempty"`
}

// ParseMembers reads a cohort export file (see the decisions above).
func ParseMembers(r io.Reader) (Members, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Members{}, fmt.Errorf("cohort file: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\ufeff")) {
		_, _ = br.Discard(3) // a byte-order mark before the header row
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return Members{}, errors.New("cohort file: empty, not even a header row")
	}
	if err != nil {
		return Members{}, fmt.Errorf("cohort file: header row: %w", err)
	}
	userCol, deviceCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "user_id":
			userCol = i
		case "device_id":
			deviceCol = i
		}
	}
	if userCol < 0 {
		return Members{}, fmt.Errorf("cohort file: the header row %q has no user_id column", strings.Join(header, ","))
	}
	var m Members
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Members{}, fmt.Errorf("cohort file: %w", err)
		}
		user := field(rec, userCol)
		switch {
		case user != "" && user != "null":
			m.Users = append(m.Users, user)
		case deviceCol >= 0 && field(rec, deviceCol) != "":
			m.Devices = append(m.Devices, field(rec, deviceCol))
		}
	}
	m.Users, m.Devices = sortedSet(m.Users), sortedSet(m.Devices)
	return m, nil
}

func field(rec []string, i int) string {
	if i >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

func sortedSet(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// Diff returns who entered (in now, not in before) and who left (in before,
// not in now), both sorted; before and now must be sorted sets.
func Diff(before, now []string) (entered, left []string) {
	i, j := 0, 0
	for i < len(before) || j < len(now) {
		switch {
		case j == len(now) || (i < len(before) && before[i] < now[j]):
			left = append(left, before[i])
			i++
		case i == len(before) || now[j] < before[i]:
			entered = append(entered, now[j])
			j++
		default:
			i++
			j++
		}
	}
	return entered, left
}

// Changes are the membership changes from before to now of one cohort.
func (now Members) Changes(before Members, cohortID, cohortName, messageID, computedTime string) []Change {
	var out []Change
	add := func(ids []string, in, device bool) {
		for _, id := range ids {
			c := Change{CohortID: cohortID, CohortName: cohortName, InCohort: in, MessageID: messageID, ComputedTime: computedTime}
			if device {
				c.DeviceID = id
			} else {
				c.UserID = id
			}
			out = append(out, c)
		}
	}
	entered, left := Diff(before.Users, now.Users)
	add(entered, true, false)
	add(left, false, false)
	entered, left = Diff(before.Devices, now.Devices)
	add(entered, true, true)
	add(left, false, true)
	return out
}

// State is what the export input keeps between syncs, in the state file.
type State struct {
	Version int                    `json:"version"`
	Cohorts map[string]CohortState `json:"cohorts"`
	// Requests counts Get one cohort requests by month ("2006-01"), for the
	// monthly budget; only the current month is kept.
	Requests map[string]int `json:"requests,omitempty"`
}

// CohortState is one cohort's last delivered sync.
type CohortState struct {
	Name         string    `json:"name"`
	LastComputed string    `json:"last_computed"`
	SyncedAt     time.Time `json:"synced_at"`
	Members      Members   `json:"members"`
}

const stateVersion = 1

// NewState is the state before any sync.
func NewState() State {
	return State{Version: stateVersion, Cohorts: map[string]CohortState{}, Requests: map[string]int{}}
}

// ParseState reads a state file's content; empty content is a new state.
func ParseState(b []byte) (State, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return NewState(), nil
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("not a state this input wrote: %w", err)
	}
	if s.Version != stateVersion {
		return State{}, fmt.Errorf("version %d, this input writes %d", s.Version, stateVersion)
	}
	if s.Cohorts == nil {
		s.Cohorts = map[string]CohortState{}
	}
	if s.Requests == nil {
		s.Requests = map[string]int{}
	}
	return s, nil
}

// Marshal is the state file's content.
func (s State) Marshal() []byte {
	b, _ := json.MarshalIndent(s, "", " ") // maps, strings, numbers: cannot fail
	return append(b, '\n')
}

// MonthKey is the key of Requests for t.
func MonthKey(t time.Time) string { return t.UTC().Format("2006-01") }

// CountRequest records one Get one cohort request at now, forgetting other
// months.
func (s *State) CountRequest(now time.Time) {
	key := MonthKey(now)
	for k := range s.Requests {
		if k != key {
			delete(s.Requests, k)
		}
	}
	s.Requests[key]++
}
