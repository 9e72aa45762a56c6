package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/connect-amplitude/connect-amplitude/emulator"
)

// tinyEvents is a body of n events {}, the smallest there are.
func tinyEvents(n int) string {
	return `{"events":[` + strings.TrimSuffix(strings.Repeat("{},", n), ",") + `]}`
}

// documentedPeakRSS is the peak resident memory, in MB, that the
// braze_currents input's reference documents for config/braze-receiver.yaml
// with its defaults.
func documentedPeakRSS(t *testing.T) int {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "components", "input_braze_currents.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`stays under (\d+) MB of resident memory`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("the braze_currents reference states no peak resident memory")
	}
	mb, _ := strconv.Atoi(string(m[1]))
	return mb
}

// receiverLimits are the braze_currents input's limits that bound memory.
type receiverLimits struct {
	MaxBodyBytes      int `yaml:"max_body_bytes"`
	MaxTotalBodyBytes int `yaml:"max_total_body_bytes"`
	MaxEvents         int `yaml:"max_events"`
	MaxRequests       int `yaml:"max_concurrent_requests"`
}

// defaultLimits reads the input's defaults from its spec, as the binary's
// create command prints them.
func defaultLimits(t *testing.T) receiverLimits {
	t.Helper()
	out, err := exec.Command(bin("connect-amplitude"), "create", "-s", "braze_currents//").Output()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	var conf struct {
		Input struct {
			BrazeCurrents receiverLimits `yaml:"braze_currents"`
		} `yaml:"input"`
	}
	if err := yaml.Unmarshal(out, &conf); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if l := conf.Input.BrazeCurrents; l.MaxBodyBytes > 0 && l.MaxTotalBodyBytes > 0 && l.MaxEvents > 0 && l.MaxRequests > 0 {
		return l
	}
	t.Fatalf("create printed no limits:\n%s", out)
	return receiverLimits{}
}

// The smallest events there are, {}, at the receiver's limits: they cost it
// the most per byte received. First 64 concurrent bodies at the size limit
// (over a million events each, refused); then the most the limits let into
// the pipeline at once: 64 concurrent batches of max_events events, as many
// of them at the size limit as max_total_body_bytes holds. The receiver's
// peak RSS stays under the documented bound, and a good request afterwards
// is delivered.
func TestReceiverMemoryStaysBoundedUnderTinyEvents(t *testing.T) {
	emu, err := emulator.Start(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	deadLetter := filepath.Join(t.TempDir(), "dead-letter.jsonl")
	limits, bound := defaultLimits(t), documentedPeakRSS(t)
	// The defaults bound memory (the config sets the total from the
	// environment); the delivery timeout does not, and is raised so that a
	// busy machine's slower dead-lettering is not a 504.
	rcv := startReceiver(t, receiverEnv{Address: "127.0.0.1:0", Token: e2eToken, Endpoint: emu.URL + "/2/httpapi", DeadLetter: deadLetter,
		Extra: []string{"BRAZE_RECEIVER_MAX_TOTAL_BODY_BYTES=" + strconv.Itoa(limits.MaxTotalBodyBytes), "BRAZE_RECEIVER_TIMEOUT=5m"}})
	pid := rcv.cmd.Process.Pid
	t.Logf("at rest: VmHWM %d MB", vmKB(t, pid, "VmHWM")>>10)
	// A receiver past the bound is killed at once, so that a failure does
	// not take the machine's memory with it.
	stopWatching := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatching:
				return
			case <-rcv.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if rss, ok := readVmKB(pid, "VmRSS"); ok && rss>>10 >= bound {
				rcv.kill()
				t.Errorf("the receiver's RSS reached %d MB, past the bound of %d MB: killed", rss>>10, bound)
				return
			}
		}
	}()
	defer func() {
		close(stopWatching)
		<-watched
	}()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: limits.MaxRequests}}
	post := func(body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, rcv.URL, strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		text, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(text))
	}
	// all posts body from n clients at once and counts the answers by
	// status.
	all := func(n int, body string) map[int]int {
		var mu sync.Mutex
		statuses := map[int]int{}
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				status, _ := post(body)
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return statuses
	}

	atLimit := `{"events":[` + strings.TrimSuffix(strings.Repeat("{},", (limits.MaxBodyBytes-14)/3), ",") + `]}`
	atLimit += strings.Repeat(" ", limits.MaxBodyBytes-len(atLimit))
	// 413 for too many events, or 429 while the bodies before fill the
	// memory allowed; never a broken connection.
	statuses := all(limits.MaxRequests, atLimit)
	select {
	case <-rcv.done:
		t.Fatal("the receiver ended during the load")
	default:
	}
	if statuses[413]+statuses[429] != limits.MaxRequests || statuses[413] == 0 {
		t.Errorf("%d bodies of %d bytes: answers %v, want 413 or 429", limits.MaxRequests, len(atLimit), statuses)
	}
	t.Logf("after %d bodies of %d bytes (answers %v): VmHWM %d MB", limits.MaxRequests, len(atLimit), statuses, vmKB(t, pid, "VmHWM")>>10)

	// Each event is dead-lettered, as {} has no id.
	small := tinyEvents(limits.MaxEvents)
	event := "{" + strings.Repeat(" ", (limits.MaxBodyBytes-14)/limits.MaxEvents-3) + "}"
	large := `{"events":[` + strings.TrimSuffix(strings.Repeat(event+",", limits.MaxEvents), ",") + `]}`
	large += strings.Repeat(" ", limits.MaxBodyBytes-len(large))
	nLarge := (limits.MaxTotalBodyBytes - limits.MaxRequests*len(small)) / limits.MaxBodyBytes
	var wg sync.WaitGroup
	for k := range limits.MaxRequests {
		body := small
		if k < nLarge {
			body = large
		}
		wg.Go(func() {
			if status, text := post(body); status != 200 || text != fmt.Sprintf(`{"events":%d}`, limits.MaxEvents) {
				t.Errorf("%d events in %d bytes: %d %q, want 200", limits.MaxEvents, len(body), status, text)
			}
		})
	}
	wg.Wait()
	peak := vmKB(t, pid, "VmHWM") >> 10
	t.Logf("after %d batches of %d events, %d of them of %d bytes: VmHWM %d MB, VmRSS %d MB",
		limits.MaxRequests, limits.MaxEvents, nLarge, len(large), peak, vmKB(t, pid, "VmRSS")>>10)
	if peak >= bound {
		t.Errorf("peak RSS %d MB, want under %d MB", peak, bound)
	}

	good := `{"events":[{"event_type":"users.messages.email.Open","id":"e2e-memory-good-1","time":1700000000,"user":{"external_user_id":"user-memory-1","device_id":"device-memory-1"}}]}`
	if status, text := post(good); status != 200 || text != `{"events":1}` {
		t.Fatalf("a good request afterwards: %d %q, want 200", status, text)
	}
	if got := emu.Emulator.Stats().EventsReceived; got != 1 {
		t.Errorf("the emulator received %d events, want the good one", got)
	}
	if dl := deadLetters(t, deadLetter)[""]; len(dl) != limits.MaxRequests*limits.MaxEvents {
		t.Errorf("%d dead letters without an id, want %d", len(dl), limits.MaxRequests*limits.MaxEvents)
	}
}

// vmKB reads a VmXXX line of /proc/<pid>/status, in kB.
func vmKB(t *testing.T, pid int, field string) int {
	t.Helper()
	kb, ok := readVmKB(pid, field)
	if !ok {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	return kb
}

func readVmKB(pid int, field string) (int, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb, err == nil
		}
	}
	return 0, false
}
