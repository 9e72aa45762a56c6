package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connect-amplitude/connect-amplitude/emulator/braze"
	"github.com/connect-amplitude/connect-amplitude/internal/cohorts"
)

const (
	e2eWebhookToken = "e2e-webhook-token-81c2"
	e2eBrazeKey     = "e2e-braze-key-4d07"
)

// brazeEmulatorProc is a braze-emulator process recording what it applies.
type brazeEmulatorProc struct {
	*process
	URL    string
	Record string
}

var brazeEmulatorListening = regexp.MustCompile(`braze-emulator listening on (http://\S+)`)

func startBrazeEmulator(t *testing.T, flags ...string) *brazeEmulatorProc {
	t.Helper()
	record := filepath.Join(t.TempDir(), "braze-record.jsonl")
	args := append([]string{"-addr", "127.0.0.1:0", "-record", record, "-api-keys", e2eBrazeKey}, flags...)
	p := startProcess(t, bin("braze-emulator"), nil, args...)
	return &brazeEmulatorProc{process: p, URL: p.waitFor(t, brazeEmulatorListening), Record: record}
}

func (e *brazeEmulatorProc) getJSON(t *testing.T, path string, into any) {
	t.Helper()
	resp, err := http.Get(e.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
}

// cohortsProc is connect-amplitude running config/cohorts-to-braze.yaml.
type cohortsProc struct {
	*process
	URL string // where Amplitude posts
}

var webhookListening = regexp.MustCompile(`amplitude_cohort_webhook: listening on (http\S+?)"`)

func startCohortsToBraze(t *testing.T, brazeURL, deadLetter string, extra ...string) *cohortsProc {
	t.Helper()
	env := append([]string{
		"AMPLITUDE_WEBHOOK_ADDRESS=127.0.0.1:0",
		"AMPLITUDE_WEBHOOK_TOKEN=" + e2eWebhookToken,
		"BRAZE_INSTANCE_URL=" + brazeURL,
		"BRAZE_API_KEY=" + e2eBrazeKey,
		"DEAD_LETTER_FILE=" + deadLetter,
		"HTTP_ADDRESS=127.0.0.1:0",
	}, extra...)
	p := startProcess(t, bin("connect-amplitude"), env, "run", "config/cohorts-to-braze.yaml")
	return &cohortsProc{process: p, URL: p.waitFor(t, webhookListening)}
}

// amplitudeDelivery is one Cohort Webhooks POST as Amplitude's default
// payload has it.
type amplitudeDelivery struct {
	CohortName   string              `json:"cohort_name"`
	CohortID     string              `json:"cohort_id"`
	InCohort     bool                `json:"in_cohort"`
	ComputedTime string              `json:"computed_time"`
	MessageID    string              `json:"message_id"`
	Users        []map[string]string `json:"users"`
}

// amplitude stands in for the Cohort Webhooks destination: it posts each
// delivery until it gets a 200, gives up on an answer after 2 seconds as
// Amplitude does, and repeats some deliveries: while they are in flight (a
// retry after its own timeout) and after they were acknowledged (a lost
// answer).
type amplitude struct {
	url    string
	client *http.Client

	mu       sync.Mutex
	statuses map[string]int // answer status (or "error") -> count
	answers  map[string]int // 200 bodies -> count
}

func newAmplitude(url string) *amplitude {
	return &amplitude{url: url, client: &http.Client{Timeout: 2 * time.Second}, statuses: map[string]int{}, answers: map[string]int{}}
}

func (a *amplitude) post(body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, a.url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Amplitude/Webhook/1.0")
	req.Header.Set("Authorization", "Bearer "+e2eWebhookToken)
	resp, err := a.client.Do(req)
	status, text := "error", ""
	code := 0
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, status, text = resp.StatusCode, fmt.Sprint(resp.StatusCode), string(b)
	}
	a.mu.Lock()
	a.statuses[status]++
	if code == 200 {
		a.answers[strings.TrimSpace(text)]++
	}
	a.mu.Unlock()
	return code
}

// deliver posts until acknowledged, within a bound.
func (a *amplitude) deliver(t *testing.T, body []byte) {
	for try := 0; try < 400; try++ {
		if a.post(body) == 200 {
			return
		}
		time.Sleep(time.Duration(50+rand.IntN(150)) * time.Millisecond)
	}
	t.Errorf("a delivery was never acknowledged: %.200s", body)
}

// computations draws each cohort's membership at each computation.
func computations(users, cohortsN, steps int, seed uint64) [][][]string {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([][][]string, steps)
	member := make([][]bool, cohortsN)
	for k := range member {
		member[k] = make([]bool, users)
	}
	for c := range steps {
		out[c] = make([][]string, cohortsN)
		for k := range cohortsN {
			for u := range users {
				// About a third in each cohort at first, then a fifth of
				// the users change sides at each computation.
				if c == 0 && rng.IntN(3) == 0 || c > 0 && rng.IntN(5) == 0 {
					member[k][u] = !member[k][u]
				}
				if member[k][u] {
					out[c][k] = append(out[c][k], fmt.Sprintf("user-%04d", u))
				}
			}
		}
	}
	return out
}

// Webhook deliveries of 3 cohorts over 6,000 users, in three computations,
// with Amplitude's retries and duplicates, through the real binary into a
// Braze emulator that fails, slows down, resets connections, throttles and
// refuses some users: every user ends with exactly the cohorts the
// deliveries describe, every refused change is in the dead-letter file
// with its reason, and no change is applied twice.
func TestCohortWebhooksReachBrazeExactlyOnceThroughFaults(t *testing.T) {
	const users, cohortsN, steps, perDelivery = 6000, 3, 3, 250
	blocked := []string{"user-0007", "user-1234", "user-4321", "user-5998"}
	emu := startBrazeEmulator(t,
		"-blocked", strings.Join(blocked, ","),
		"-seed", "11", "-error-rate", "0.1", "-reset-rate", "0.05", "-queued-rate", "0.05",
		"-slow-rate", "0.03", "-slow-delay", "8s",
		"-rate-limit", "25", "-rate-window", "1s")
	deadLetter := filepath.Join(t.TempDir(), "dead-letter.jsonl")
	rcv := startCohortsToBraze(t, emu.URL, deadLetter)
	amp := newAmplitude(rcv.URL)

	names := []string{"TEST_COHORT", "Power users: EU", "Churn risk [beta]"}
	ids := []string{"abcd1234", "7khm89cz", "qz0x11yy"}
	plan := computations(users, cohortsN, steps, 42)

	// want: each change, by user, Braze name and side, counted over the
	// computations; final: each user's cohorts after the last one.
	want := map[string]int{}
	final := map[string][]string{}
	var duplicates atomic.Int64
	prev := make([][]string, cohortsN)
	for c := range steps {
		var deliveries [][]byte
		for k := range cohortsN {
			entered, left := cohorts.Diff(prev[k], plan[c][k])
			prev[k] = plan[c][k]
			for _, side := range []struct {
				in    bool
				users []string
				word  string
			}{{true, entered, "enter"}, {false, left, "exit"}} {
				for start, n := 0, 0; start < len(side.users); start, n = start+perDelivery, n+1 {
					part := side.users[start:min(start+perDelivery, len(side.users))]
					d := amplitudeDelivery{CohortName: names[k], CohortID: ids[k], InCohort: side.in,
						ComputedTime: fmt.Sprint(1692206763 + c*3600), MessageID: fmt.Sprintf("c%d-%s::%s::%d", c, ids[k], side.word, n)}
					for _, u := range part {
						d.Users = append(d.Users, map[string]string{"user_id": u})
						op := "remove"
						if side.in {
							op = "add"
						}
						want[u+"\x00"+cohorts.BrazeName(names[k], ids[k])+"\x00"+op]++
					}
					body, _ := json.Marshal(d)
					deliveries = append(deliveries, body)
				}
			}
		}
		// Amplitude's deliveries of one computation, concurrently; the next
		// computation starts once each is acknowledged.
		work := make(chan []byte)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for body := range work {
					if rand.IntN(4) == 0 { // a retry racing the first try
						duplicates.Add(1)
						wg.Add(1)
						go func() { defer wg.Done(); amp.deliver(t, body) }()
					}
					amp.deliver(t, body)
					if rand.IntN(4) == 0 { // a retry after a lost answer
						duplicates.Add(1)
						amp.deliver(t, body)
					}
				}
			}()
		}
		for _, body := range deliveries {
			work <- body
		}
		close(work)
		wg.Wait()
	}
	for k := range cohortsN {
		for _, u := range plan[steps-1][k] {
			final[u] = append(final[u], cohorts.BrazeName(names[k], ids[k]))
		}
	}

	var state struct {
		Users map[string]map[string]any `json:"users"`
	}
	emu.getJSON(t, "/_emulator/users", &state)
	var stats braze.Stats
	emu.getJSON(t, "/_emulator/stats", &stats)
	rcv.stop(t)
	emu.stop(t)
	t.Logf("Braze emulator: %+v", stats)
	t.Logf("Amplitude's answers: %v; 200 bodies: %d duplicates acknowledged from memory; %d deliveries repeated on purpose",
		amp.statuses, amp.answers[`{"duplicate":true}`], duplicates.Load())

	// Faults really happened, and Amplitude's repeats reached the input.
	if stats.Requests["reset"] == 0 || stats.Requests["429"] == 0 || stats.Requests["202"] == 0 || stats.SlowAnswers == 0 ||
		stats.Requests["500"]+stats.Requests["502"]+stats.Requests["503"]+stats.Requests["504"] == 0 {
		t.Errorf("not every fault was injected: %+v", stats.Requests)
	}
	if amp.answers[`{"duplicate":true}`] == 0 {
		t.Errorf("no repeated delivery was acknowledged from the deduplication state")
	}

	// Every user holds exactly the cohorts of the last computation.
	isBlocked := map[string]bool{}
	for _, u := range blocked {
		isBlocked[u] = true
	}
	mismatches := 0
	for i := range users {
		u := fmt.Sprintf("user-%04d", i)
		got, _ := state.Users[u]["amplitude_cohorts"].([]any)
		var gotNames []string
		for _, g := range got {
			gotNames = append(gotNames, g.(string))
		}
		w := slices.Clone(final[u])
		if isBlocked[u] {
			w = nil
		}
		slices.Sort(gotNames)
		slices.Sort(w)
		if !slices.Equal(gotNames, w) {
			if mismatches++; mismatches <= 10 {
				t.Errorf("%s holds %q, want %q", u, gotNames, w)
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d users of %d do not hold their cohorts", mismatches, users)
	}

	// No change applied twice: the record holds each change as often as
	// the computations made it, the blocked users' never.
	applied := map[string]int{}
	forEachLine(t, emu.Record, func(line []byte) {
		var op braze.Op
		if err := json.Unmarshal(line, &op); err != nil {
			t.Fatalf("record: %v: %s", err, line)
		}
		if op.Attribute != "amplitude_cohorts" || (op.Op != "add" && op.Op != "remove") {
			t.Errorf("unexpected change %s", line)
			return
		}
		applied[op.User+"\x00"+fmt.Sprint(op.Value)+"\x00"+op.Op]++
	})
	wrong := 0
	for key, n := range want {
		u := key[:strings.IndexByte(key, 0)]
		if isBlocked[u] {
			n = 0
		}
		if applied[key] != n {
			if wrong++; wrong <= 10 {
				t.Errorf("%q applied %d times, want %d", strings.ReplaceAll(key, "\x00", " | "), applied[key], n)
			}
		}
	}
	for key := range applied {
		if _, ok := want[key]; !ok {
			t.Errorf("%q applied, and no delivery asked for it", strings.ReplaceAll(key, "\x00", " | "))
		}
	}

	// Every dead-lettered change is a blocked user's, with Braze's reason,
	// and every blocked user's change is there, but for those in requests
	// Braze answered 202 "queued": it reports nothing about those.
	type change struct {
		user, cohort string
		in           bool
	}
	dead := map[change]int{}
	forEachLine(t, deadLetter, func(line []byte) {
		var dl struct {
			Reason string         `json:"reason"`
			Event  cohorts.Change `json:"event"`
		}
		if err := json.Unmarshal(line, &dl); err != nil {
			t.Fatalf("dead-letter line: %v: %s", err, line)
		}
		if !strings.HasPrefix(dl.Reason, "braze_users_track: rejected: provided external_id is blacklisted") || !isBlocked[dl.Event.UserID] {
			t.Errorf("dead letter %s", line)
		}
		dead[change{dl.Event.UserID, cohorts.BrazeName(dl.Event.CohortName, dl.Event.CohortID), dl.Event.InCohort}]++
	})
	for key, n := range want {
		parts := strings.Split(key, "\x00")
		if !isBlocked[parts[0]] {
			continue
		}
		c := change{parts[0], parts[1], parts[2] == "add"}
		if dead[c] > n {
			t.Errorf("blocked user's change %+v dead-lettered %d times, want %d", c, dead[c], n)
		}
	}
	lines := 0
	for _, n := range dead {
		lines += n
	}
	if lines+stats.QueuedRefused != stats.ObjectsRefused || lines == 0 {
		t.Errorf("%d dead-letter lines and %d refusals in queued requests, for %d objects Braze refused", lines, stats.QueuedRefused, stats.ObjectsRefused)
	}
	if logs := rcv.out.String(); strings.Contains(logs, e2eWebhookToken) || strings.Contains(logs, e2eBrazeKey) {
		t.Errorf("the logs show a secret")
	}
}

// The answers Amplitude gets for deliveries that must never reach Braze,
// from the real binary.
func TestTheWebhookRefusesBadDeliveries(t *testing.T) {
	emu := startBrazeEmulator(t)
	deadLetter := filepath.Join(t.TempDir(), "dead-letter.jsonl")
	rcv := startCohortsToBraze(t, emu.URL, deadLetter)
	tests := []struct {
		name, auth, body string
		status           int
		text             string
	}{
		{name: "no secret", body: `{}`, status: 401, text: "unauthorized"},
		{name: "a wrong secret", auth: "Bearer e2e-webhook-token-81c3", body: `{}`, status: 401, text: "unauthorized"},
		{name: "not JSON", auth: "Bearer " + e2eWebhookToken, body: `{"cohort_id":`, status: 400, text: "body: not a JSON object"},
		{name: "no cohort_id", auth: "Bearer " + e2eWebhookToken, body: `{"cohort_name":"A","in_cohort":true,"message_id":"m","users":[]}`, status: 400, text: "cohort_id: missing"},
		{name: "a bad user", auth: "Bearer " + e2eWebhookToken, body: `{"cohort_name":"A","cohort_id":"1","in_cohort":true,"message_id":"m","users":[{"user_id":false}]}`, status: 400, text: "users[0].user_id: must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, rcv.URL, strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			text, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(text), tt.text) {
				t.Fatalf("got %d %q, want %d with %q", resp.StatusCode, text, tt.status, tt.text)
			}
		})
	}
	var stats braze.Stats
	emu.getJSON(t, "/_emulator/stats", &stats)
	if stats.ObjectsApplied != 0 || len(stats.Requests) != 0 {
		t.Errorf("Braze got requests: %+v", stats)
	}
	rcv.stop(t)
	if dl := deadLetters(t, deadLetter); len(dl) != 0 {
		t.Errorf("dead letters: %v", dl)
	}
}
