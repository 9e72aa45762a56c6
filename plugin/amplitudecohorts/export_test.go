package amplitudecohorts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/emulator/braze"
	"github.com/connect-amplitude/connect-amplitude/emulator/cohortexport"
	"github.com/connect-amplitude/connect-amplitude/internal/cohorts"
	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
	"github.com/connect-amplitude/connect-amplitude/internal/testutil"
	_ "github.com/connect-amplitude/connect-amplitude/plugin/brazetrack"
)

func ids(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}

// syncer is a real stream: amplitude_cohort_export -> amplitude_cohort_to_braze
// -> braze_users_track, against the two emulators.
type syncer struct {
	logs *syncbuf.Buffer
	stop func()
}

func startSyncer(t *testing.T, exportURL, brazeURL, statePath, extra string) *syncer {
	t.Helper()
	sb := service.NewStreamBuilder()
	s := &syncer{logs: new(syncbuf.Buffer)}
	sb.SetLogger(slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, s.logs), &slog.HandlerOptions{Level: slog.LevelInfo})))
	input := fmt.Sprintf(`amplitude_cohort_export:
  endpoint: %s
  api_key: export-key
  secret_key: export-secret
  cohort_ids: [ coh-a, coh-b, coh-c ]
  interval: 300ms
  monthly_request_budget: 100000000
  state_file: %q
  poll_interval: 10ms
  retry_interval: 50ms
  batch_size: 40
`, exportURL, statePath)
	for _, line := range strings.Split(strings.TrimSpace(extra), "\n") {
		if line != "" {
			input += "  " + line + "\n"
		}
	}
	if err := sb.AddInputYAML(input); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddProcessorYAML(`amplitude_cohort_to_braze: {}`); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddOutputYAML(fmt.Sprintf(`braze_users_track: {instance_url: %s, api_key: braze-key, retry: {initial_interval: 5ms, max_interval: 50ms}}`, brazeURL)); err != nil {
		t.Fatal(err)
	}
	s.stop = testutil.RunStream(t, sb)
	return s
}

// membership is what Braze should hold: user -> the cohort names it is in.
type membership map[string][]string

func (m membership) add(name string, users []string) {
	for _, u := range users {
		m[u] = append(m[u], name)
	}
}

// brazeMatches says whether every user of want has exactly those cohorts in
// Braze, and users not in want have none.
func brazeMatches(users map[string]map[string]any, want membership) (bool, string) {
	for u, attrs := range users {
		got, _ := attrs["amplitude_cohorts"].([]string)
		w := slices.Clone(want[u])
		got = slices.Clone(got)
		slices.Sort(w)
		slices.Sort(got)
		if !slices.Equal(got, w) {
			return false, fmt.Sprintf("%s: %v, want %v", u, got, w)
		}
	}
	for u, w := range want {
		if _, ok := users[u]; !ok && len(w) > 0 {
			return false, fmt.Sprintf("%s missing, want %v", u, w)
		}
	}
	return true, ""
}

func waitForBraze(t *testing.T, emu *braze.Server, want membership, logs *syncbuf.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, why := brazeMatches(emu.Users(), want)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Braze does not hold the membership: %s\n%s", why, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTheExportInputSyncsOnlyTheChangesIntoBraze(t *testing.T) {
	exp, err := cohortexport.Start(cohortexport.Config{APIKey: "export-key", SecretKey: "export-secret", PollsBeforeDone: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	var ops atomic.Int64
	emu, err := braze.Start(braze.Config{APIKeys: []string{"braze-key"}, Record: func(braze.Op) { ops.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	nameA, nameB, nameC := cohorts.BrazeName("Power users", "coh-a"), cohorts.BrazeName("TEST_COHORT", "coh-b"), cohorts.BrazeName("Churn risk", "coh-c")
	exp.SetCohort(cohortexport.Cohort{ID: "coh-a", Name: "Power users", Users: ids("u", 0, 100)})
	exp.SetCohort(cohortexport.Cohort{ID: "coh-b", Name: "TEST_COHORT", Users: ids("u", 50, 150)})
	exp.SetCohort(cohortexport.Cohort{ID: "coh-c", Name: "Churn risk", Users: ids("u", 140, 160), Devices: []string{"dev-1"}})
	statePath := filepath.Join(t.TempDir(), "state.json")

	s := startSyncer(t, exp.URL, emu.URL, statePath, "")
	want := membership{}
	want.add(nameA, ids("u", 0, 100))
	want.add(nameB, ids("u", 50, 150))
	want.add(nameC, ids("u", 140, 160))
	waitForBraze(t, emu, want, s.logs)

	// A and C are recomputed; B is not.
	exp.SetCohort(cohortexport.Cohort{ID: "coh-a", Name: "Power users", Users: ids("u", 10, 110)})
	exp.SetCohort(cohortexport.Cohort{ID: "coh-c", Name: "Churn risk", Users: ids("u", 150, 170)})
	want = membership{}
	want.add(nameA, ids("u", 10, 110))
	want.add(nameB, ids("u", 50, 150))
	want.add(nameC, ids("u", 150, 170))
	waitForBraze(t, emu, want, s.logs)
	s.stop()

	// The first sync sent every member, the second only the changes: 100 +
	// 100 + 20 adds, then 10 + 10 removes and adds for A and C each.
	if n := ops.Load(); n != 220+40 {
		t.Errorf("%d changes applied in Braze, want %d", n, 260)
	}
	c := exp.Counts()
	if c.Request != 5 {
		t.Errorf("%d cohorts requested, want 5 (3, then A and C)", c.Request)
	}
	if c.Download != c.Request || c.MaxConcurrent != 1 {
		t.Errorf("counts %+v: every request downloaded once, one request at a time", c)
	}
	// The state file holds the last sync and the month's requests.
	raw, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	state, err := cohorts.ParseState(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(state.Cohorts["coh-a"].Members.Users, ids("u", 10, 110)) || !slices.Equal(state.Cohorts["coh-c"].Members.Devices, nil) ||
		state.Requests[cohorts.MonthKey(time.Now())] != 5 {
		t.Errorf("state %s", raw)
	}

	// A restart reads the state: nothing changed, nothing is requested or
	// sent again. The three cohorts, due together, are checked in one pass
	// that lists the cohorts once.
	before := ops.Load()
	s2 := startSyncer(t, exp.URL, emu.URL, statePath, "")
	deadline := time.Now().Add(10 * time.Second)
	for !syncedSince(t, statePath, state) {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted input did not sync every cohort:\n%s", s2.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A second pass may have begun (the interval is 300ms); a list per cohort
	// would be three.
	if lists := exp.Counts().List - c.List; lists > 2 {
		t.Errorf("the cohorts were listed %d times to check three cohorts due together, want once", lists)
	}
	s2.stop()
	if after := exp.Counts(); after.Request != c.Request || ops.Load() != before {
		t.Errorf("after a restart: %d requests (was %d), %d changes (was %d)", after.Request, c.Request, ops.Load(), before)
	}
}

// syncedSince reports whether the state file shows every cohort of old
// synced again since.
func syncedSince(t *testing.T, statePath string, old cohorts.State) bool {
	t.Helper()
	raw, err := os.ReadFile(statePath)
	if err != nil {
		return false // being replaced
	}
	now, err := cohorts.ParseState(raw)
	if err != nil {
		t.Fatalf("state %s: %v", raw, err)
	}
	for id, c := range old.Cohorts {
		if !now.Cohorts[id].SyncedAt.After(c.SyncedAt) {
			return false
		}
	}
	return true
}

// Amplitude's failures (a refused request, wrong credentials) are retried
// after retry_interval and logged with the reason.
func TestExportFailuresAreRetriedAndLogged(t *testing.T) {
	exp, err := cohortexport.Start(cohortexport.Config{APIKey: "export-key", SecretKey: "export-secret", FailRequests: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	emu, err := braze.Start(braze.Config{APIKeys: []string{"braze-key"}})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	exp.SetCohort(cohortexport.Cohort{ID: "coh-a", Name: "A", Users: ids("u", 0, 5)})
	exp.SetCohort(cohortexport.Cohort{ID: "coh-b", Name: "B", Users: ids("u", 0, 5)})
	exp.SetCohort(cohortexport.Cohort{ID: "coh-c", Name: "C"})
	s := startSyncer(t, exp.URL, emu.URL, filepath.Join(t.TempDir(), "state.json"), "")
	want := membership{}
	want.add(cohorts.BrazeName("A", "coh-a"), ids("u", 0, 5))
	want.add(cohorts.BrazeName("B", "coh-b"), ids("u", 0, 5))
	waitForBraze(t, emu, want, s.logs)
	s.stop()
	if !strings.Contains(s.logs.String(), "HTTP 503") || !strings.Contains(s.logs.String(), "trying again in 50ms") {
		t.Errorf("the failures were not logged:\n%s", s.logs.String())
	}

	// Wrong credentials: nothing is synced, and the log says which fields.
	bad, err := cohortexport.Start(cohortexport.Config{APIKey: "other", SecretKey: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	s = startSyncer(t, bad.URL, emu.URL, filepath.Join(t.TempDir(), "state.json"), "")
	deadline := time.Now().Add(10 * time.Second)
	for bad.Counts().Unauthorized < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no retry after a 401:\n%s", s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	if logs := s.logs.String(); !strings.Contains(logs, "HTTP 401 (check api_key and secret_key)") || strings.Contains(logs, "export-secret") {
		t.Errorf("the log does not name the credentials, or shows the secret:\n%s", logs)
	}
}

// A month's budget spent: no cohort is requested until the next month.
func TestASpentBudgetStopsRequestsForTheMonth(t *testing.T) {
	exp, err := cohortexport.Start(cohortexport.Config{APIKey: "export-key", SecretKey: "export-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	exp.SetCohort(cohortexport.Cohort{ID: "coh-a", Name: "A", Users: ids("u", 0, 5)})
	statePath := filepath.Join(t.TempDir(), "state.json")
	st := cohorts.NewState()
	st.Requests[cohorts.MonthKey(time.Now())] = 7
	if err := os.WriteFile(statePath, st.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSyncer(t, exp.URL, "http://127.0.0.1:1", statePath, "monthly_request_budget: 7\ninterval: 2232h")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.logs.String(), "are spent") {
		if time.Now().After(deadline) {
			t.Fatalf("the spent budget was not logged:\n%s", s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	if n := exp.Counts().Request; n != 0 {
		t.Errorf("%d cohorts requested over the budget", n)
	}
}

func TestExportConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, []byte(`{"version":`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "api_key: k\nsecret_key: s3cret\n"
	state := fmt.Sprintf("state_file: %q\n", filepath.Join(dir, "state.json"))
	tests := []struct{ name, yaml, err string }{
		{"over the budget", base + state + "cohort_ids: [a, b, c]\ninterval: 1h", "interval: 3 cohorts every 1h0m0s may cost 2232 requests a month, over monthly_request_budget 500: sync them every 4h"},
		{"no cohorts", base + state + "cohort_ids: []", "cohort_ids: empty"},
		{"a bad cohort id", base + state + "cohort_ids: [a/b]", `cohort_ids[0]: "a/b" is not a cohort id`},
		{"no secret key", "api_key: k\nsecret_key: ''\n" + state + "cohort_ids: [a]", "api_key and secret_key must both be set"},
		{"no state file", base + "state_file: ''\ncohort_ids: [a]", "state_file: empty"},
		{"a state file in a missing directory", base + "state_file: /nonexistent/dir/state.json\ncohort_ids: [a]", "state_file: its directory"},
		{"a corrupt state file", base + fmt.Sprintf("state_file: %q\n", corrupt) + "cohort_ids: [a]", "state_file: " + corrupt + ": not a state this input wrote"},
		{"a bad endpoint", base + state + "cohort_ids: [a]\nendpoint: amplitude.com", `endpoint: "amplitude.com" is not an http(s) URL`},
		{"no batch", base + state + "cohort_ids: [a]\nbatch_size: 0", "batch_size: must be at least 1"},
		{"a zero poll", base + state + "cohort_ids: [a]\npoll_interval: 0s", "poll_interval: must be positive"},
		{"no budget", base + state + "cohort_ids: [a]\nmonthly_request_budget: 0", "monthly_request_budget: must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.ExpectConfigError(t, exportSpec(), newExportInput, tt.yaml, tt.err)
		})
	}
}

// The emulated file is what the input reads: CSV with a header row.
func TestTheEmulatedExportFileParses(t *testing.T) {
	exp, err := cohortexport.Start(cohortexport.Config{APIKey: "k", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	exp.SetCohort(cohortexport.Cohort{ID: "x", Name: "X", Users: []string{"b", "a"}, Devices: []string{"d"}})
	var list struct {
		Cohorts []map[string]any `json:"cohorts"`
	}
	raw := get(t, exp.URL+cohorts.ExportListPath)
	if err := json.Unmarshal(raw, &list); err != nil || len(list.Cohorts) != 1 {
		t.Fatalf("list %s: %v", raw, err)
	}
	req, _ := cohorts.ParseRequestAnswer(get(t, exp.URL+cohorts.ExportRequestPath+"x"))
	_ = get(t, exp.URL+cohorts.ExportStatusPath+req.RequestID)
	m, err := cohorts.ParseMembers(strings.NewReader(string(get(t, exp.URL+cohorts.ExportRequestPath+req.RequestID+cohorts.ExportFileSuffix))))
	if err != nil || !slices.Equal(m.Users, []string{"a", "b"}) || !slices.Equal(m.Devices, []string{"d"}) {
		t.Fatalf("members %+v, %v", m, err)
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.SetBasicAuth("k", "s")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}
