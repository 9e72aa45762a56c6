package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/brazesim"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/internal/impl/kafka/kafkatest"
)

// These tests run the binary's Kafka configs against a Kafka cluster in this
// test process (franz-go's kfake), or the real brokers of KAFKA_BROKERS.

const e2eAPIKey = "e2e-api-key"

// senderEnv is the environment of config/kafka-send.yaml for one instance:
// short group timings, so that a dead instance's partitions move in
// seconds.
func senderEnv(c *kafkatest.Cluster, topic, group, endpoint, deadLetter string) []string {
	return []string{
		"KAFKA_BROKERS=" + strings.Join(c.Brokers, ","),
		"KAFKA_TOPIC=" + topic,
		"KAFKA_CONSUMER_GROUP=" + group,
		"KAFKA_SESSION_TIMEOUT=6s",
		"KAFKA_HEARTBEAT_INTERVAL=500ms",
		"KAFKA_REBALANCE_TIMEOUT=30s",
		"AMPLITUDE_ENDPOINT=" + endpoint,
		"AMPLITUDE_API_KEY=" + e2eAPIKey,
		"AMPLITUDE_MAX_HOLD=20s",
		// A margin for a busy machine: a sender meters an id's events when
		// it releases them, and when its requests queue (the race detector
		// slows the emulator, other work slows the senders) they arrive
		// bunched. At the default 25 events/s and burst 3 (28 in a second
		// at most) an id was seen at 31 under the race detector; at 20 (23
		// at most), at 30. At 15 (18 at most) the bunching has 12 events.
		"AMPLITUDE_RATE=15",
		"DEAD_LETTER_FILE=" + deadLetter,
		"HTTP_ADDRESS=127.0.0.1:0",
	}
}

var senderActive = regexp.MustCompile(`Input type (kafka_franz) is now active`)

func startSender(t *testing.T, env []string) *process {
	t.Helper()
	p := startProcess(t, bin("connect-amplitude"), env, "run", "config/kafka-send.yaml")
	p.waitFor(t, senderActive)
	return p
}

// mappedEvent is one Amplitude event in the topic.
type mappedEvent struct {
	insertID, deviceID, key string
	value                   []byte
}

// mappedWorkload maps n generated Currents events of users (two devices
// each) and hot devices sending hotShare of them, keyed as the receive
// stage keys them.
func mappedWorkload(t *testing.T, n, users, hot int, hotShare float64) []mappedEvent {
	t.Helper()
	gen, err := currentsgen.New(currentsgen.Config{Seed: 13, Users: users, HotDevices: hot, HotShare: hotShare,
		StartTime: time.Now().Unix(), PerSecond: 1000})
	if err != nil {
		t.Fatal(err)
	}
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]mappedEvent, 0, n)
	var buf []byte
	for range n {
		buf = gen.Next(buf[:0])
		value, err := m.MapRaw(nil, buf)
		if err != nil {
			t.Fatalf("mapping %s: %v", buf, err)
		}
		ev := gjson.ParseBytes(value)
		key := ev.Get("user_id").String()
		if key == "" {
			key = ev.Get("device_id").String()
		}
		out = append(out, mappedEvent{insertID: ev.Get("insert_id").String(), deviceID: ev.Get("device_id").String(), key: key, value: value})
	}
	return out
}

func produceEvents(t *testing.T, c *kafkatest.Cluster, topic string, events []mappedEvent) {
	t.Helper()
	cl := c.Client(t, kgo.ProducerBatchMaxBytes(4<<20))
	recs := make([]*kgo.Record, len(events))
	for i, ev := range events {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(ev.key), Value: ev.value}
	}
	c.Produce(t, cl, recs...)
}

// arrivals records each event the emulator accepted, at the time the
// request carrying it arrived: the rate as the senders sent it, not as a
// busy emulator (under the race detector) got round to processing it.
type arrivals struct {
	mu       sync.Mutex
	arrived  map[string]time.Time   // insert_id -> the latest request that carried it
	insertID map[string]int         // accepted
	byID     map[string][]time.Time // "device:<id>" and "user:<id>"
}

func newArrivals() *arrivals {
	return &arrivals{arrived: map[string]time.Time{}, insertID: map[string]int{}, byID: map[string][]time.Time{}}
}

// serve is the emulator behind a handler that notes when each request
// arrived.
func (a *arrivals) serve(t *testing.T, emu *emulator.Emulator) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		for _, id := range gjson.GetBytes(body, "events.#.insert_id").Array() {
			a.arrived[id.String()] = now
		}
		a.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (a *arrivals) Record(events []emulator.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ev := range events {
		at := a.arrived[ev.InsertID]
		a.insertID[strings.Clone(ev.InsertID)]++
		if ev.DeviceID != "" {
			k := "device:" + ev.DeviceID
			a.byID[k] = append(a.byID[k], at)
		}
		if ev.UserID != "" {
			k := "user:" + ev.UserID
			a.byID[k] = append(a.byID[k], at)
		}
	}
}

func (a *arrivals) accepted() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.insertID)
}

// busiestWindow returns, for each id, the most events accepted within any
// window of the given length.
func (a *arrivals) busiestWindow(window time.Duration) map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for id, times := range a.byID {
		times = slices.Clone(times)
		slices.SortFunc(times, func(x, y time.Time) int { return x.Compare(y) })
		most, start := 0, 0
		for end := range times {
			for times[end].Sub(times[start]) >= window {
				start++
			}
			most = max(most, end-start+1)
		}
		out[id] = most
	}
	return out
}

// sendDeadLetters reads the dead-letter files of config/kafka-send.yaml:
// insert_id -> reasons.
func sendDeadLetters(t *testing.T, paths ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, path := range paths {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			continue
		}
		forEachLine(t, path, func(line []byte) {
			var dl struct {
				Reason string `json:"reason"`
				Event  struct {
					InsertID string `json:"insert_id"`
				} `json:"event"`
			}
			if err := json.Unmarshal(line, &dl); err != nil {
				t.Fatalf("dead-letter line: %v: %s", err, line)
			}
			out[dl.Event.InsertID] = append(out[dl.Event.InsertID], dl.Reason)
		})
	}
	return out
}

// waitCommitted waits until the group committed every partition of topic to
// its end.
func waitCommitted(t *testing.T, c *kafkatest.Cluster, group, topic string) {
	t.Helper()
	adm := kadm.NewClient(c.Client(t))
	eventually(t, "every partition is committed to its end", func() bool {
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		if err != nil {
			return false
		}
		committed := c.Committed(t, group, topic)
		behind := 0
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 && committed[o.Partition] < o.Offset {
				behind++
			}
		})
		return behind == 0
	})
}

// The send stage scaled out: three instances of the binary in one consumer
// group share a topic of 12 partitions of 20,000 events over 2,000 devices,
// three of them hot, far over Amplitude's 30 events/s. One instance is
// killed mid-run and started again, which moves partitions twice. Every
// event reaches the emulator exactly once or the dead letter; only hot ids
// are ever throttled; no id goes over Amplitude's rate in any window.
func TestKafkaSendersDeliverEveryEventOnceWithinLimitsThroughACrashAndARebalance(t *testing.T) {
	c := kafkatest.New(t)
	const partitions = 12
	topic, group := c.Topic(t, partitions), kafkatest.Name(t, "group")
	events := mappedWorkload(t, 20_000, 1_100, 3, 0.02)
	devices, hot := map[string]int{}, map[string]bool{}
	for _, ev := range events {
		devices[ev.deviceID]++
		if strings.HasPrefix(ev.deviceID, "hot-device-") {
			hot["device:"+ev.deviceID] = true
			hot["user:"+ev.key] = true
		}
	}
	if len(devices) < 2000 || len(hot) != 6 || devices["hot-device-0"] < 100 {
		t.Fatalf("%d devices, hot ids %v with %d events each: the workload is not the one specified", len(devices), hot, devices["hot-device-0"])
	}

	rec := newArrivals()
	emu := emulator.New(emulator.Config{APIKeys: []string{e2eAPIKey}, Recorder: rec})
	srv := rec.serve(t, emu)
	dir := t.TempDir()
	deadLetter := func(i int) string { return filepath.Join(dir, fmt.Sprintf("dead-letter-%d.jsonl", i)) }
	env := func(i int) []string {
		return senderEnv(c, topic, group, srv.URL+"/2/httpapi", deadLetter(i))
	}
	senders := []*process{startSender(t, env(0)), startSender(t, env(1)), startSender(t, env(2))}
	// Every instance owns partitions before the events come, so that the run
	// starts balanced.
	waitGroupMembers(t, c, group, 3)
	produceEvents(t, c, topic, events)

	// Mid-run, one instance dies without a word; its partitions move to the
	// others after the session timeout. Later it comes back, and the others
	// give some partitions up to it.
	eventually(t, "a quarter of the events are accepted", func() bool { return rec.accepted() >= len(events)/4 })
	senders[1].kill()
	killedAt := rec.accepted()
	if killedAt >= len(events) {
		t.Fatal("every event was accepted before the crash: the crash was not mid-run")
	}
	waitGroupMembers(t, c, group, 2)
	restarted := startSender(t, env(3))
	waitGroupMembers(t, c, group, 3)

	dead := map[string][]string{}
	eventually(t, "every event is accepted or dead-lettered", func() bool {
		dead = sendDeadLetters(t, deadLetter(0), deadLetter(1), deadLetter(2), deadLetter(3))
		return rec.accepted()+len(dead) >= len(events)
	})
	waitCommitted(t, c, group, topic)
	for _, p := range []*process{senders[0], senders[2], restarted} {
		p.stop(t)
	}
	dead = sendDeadLetters(t, deadLetter(0), deadLetter(1), deadLetter(2), deadLetter(3))

	// Every event once in Amplitude, or dead-lettered with its reason; only
	// a hot id's events wait long enough to be dead-lettered. An event in
	// flight at the crash is sent again by its partition's next owner, so it
	// may be both in Amplitude and in a dead letter written by one of its
	// two senders.
	hotDevice := map[string]bool{}
	for _, ev := range events {
		if hot["device:"+ev.deviceID] {
			hotDevice[ev.insertID] = true
		}
	}
	both := 0
	rec.mu.Lock()
	for _, ev := range events {
		n, reasons := rec.insertID[ev.insertID], dead[ev.insertID]
		if n > 1 || n == 0 && len(reasons) == 0 {
			t.Errorf("event %s: recorded %d times, dead letters %q; want recorded once or dead-lettered", ev.insertID, n, reasons)
		}
		if len(reasons) > 0 && !hotDevice[ev.insertID] {
			t.Errorf("event %s of device %s, which is not hot, dead-lettered: %q", ev.insertID, ev.deviceID, reasons)
		}
		for _, r := range reasons {
			if !strings.HasPrefix(r, "amplitude: ") {
				t.Errorf("event %s dead-lettered with reason %q", ev.insertID, r)
			}
		}
		if n == 1 && len(reasons) > 0 {
			both++
		}
	}
	if len(rec.insertID) > len(events) {
		t.Errorf("the emulator recorded %d insert_ids for %d events", len(rec.insertID), len(events))
	}
	rec.mu.Unlock()

	// Only hot ids were throttled. The emulator keeps the latest 20 distinct
	// ids it named in a 429: with 6 hot ids, any other id named would still
	// be among them, or pushed out by at least 14 other non-hot ids.
	stats := emu.Stats()
	for _, id := range stats.ThrottledIDs.Sample {
		if !hot[strings.Replace(strings.Replace(id, "device_id:", "device:", 1), "user_id:", "user:", 1)] {
			t.Errorf("the emulator throttled %s, which is not hot (sample %v)", id, stats.ThrottledIDs.Sample)
		}
	}
	if stats.DailyQuotaIDs.Count > 0 {
		t.Errorf("ids over their daily quota: %v", stats.DailyQuotaIDs.Sample)
	}

	// No id above Amplitude's rate in any window of its length.
	limits := ampapi.HTTPV2.Limits()
	allowed := int(limits.EventsPerSecond * limits.RateWindow.Seconds())
	busiest := 0
	for id, n := range rec.busiestWindow(limits.RateWindow) {
		busiest = max(busiest, n)
		if n > allowed {
			t.Errorf("%s: %d events accepted within %s, Amplitude allows %d", id, n, limits.RateWindow, allowed)
		}
	}

	// The run moved partitions: the survivors gave some up to the restarted
	// instance.
	if !strings.Contains(senders[0].out.String()+senders[2].out.String(), "a rebalance takes") {
		t.Error("no survivor gave partitions up: no rebalance moved partitions to the restarted instance")
	}
	t.Logf("%d events over %d devices; accepted before the crash %d; dead-lettered %d (%d of them also delivered); emulator: requests %v, %d events deduplicated, throttled %d times %v; busiest id window %d/%d",
		len(events), len(devices), killedAt, len(dead), both, stats.Requests, stats.EventsDeduplicated, stats.ThrottledIDs.Count, stats.ThrottledIDs.Sample, busiest, allowed)
}

// waitGroupMembers waits until the group is stable with n members that all
// have partitions.
func waitGroupMembers(t *testing.T, c *kafkatest.Cluster, group string, n int) {
	t.Helper()
	adm := kadm.NewClient(c.Client(t))
	eventually(t, fmt.Sprintf("the group has %d members with partitions", n), func() bool {
		described, err := adm.DescribeGroups(context.Background(), group)
		if err != nil {
			return false
		}
		g := described[group]
		withPartitions := 0
		for _, m := range g.Members {
			if a, ok := m.Assigned.AsConsumer(); ok && len(a.Topics) > 0 {
				withPartitions++
			}
		}
		return g.State == "Stable" && len(g.Members) == n && withPartitions == n
	})
}

// Commit after acknowledgement: an instance that read events but whose
// Amplitude never answered commits nothing, and when it dies its events go
// to the next owner, which delivers every one.
func TestKafkaSendRedeliversEventsNobodyAcknowledgedToTheNextOwner(t *testing.T) {
	c := kafkatest.New(t)
	topic, group := c.Topic(t, 4), kafkatest.Name(t, "group")
	events := mappedWorkload(t, 400, 200, 0, 0)
	produceEvents(t, c, topic, events)

	// An Amplitude that takes requests and never answers them.
	var requests atomic.Int64
	stall := make(chan struct{})
	hole := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	defer hole.Close()
	defer close(stall)
	dir := t.TempDir()
	first := startSender(t, senderEnv(c, topic, group, hole.URL+"/2/httpapi", filepath.Join(dir, "dead-letter-1.jsonl")))
	eventually(t, "the first instance sends requests", func() bool { return requests.Load() > 0 })
	// Several commit periods of the config (1s) pass.
	time.Sleep(3 * time.Second)
	if committed := c.Committed(t, group, topic); len(committed) > 0 {
		t.Fatalf("offsets %v committed though Amplitude acknowledged nothing", committed)
	}
	first.kill()

	srv, err := emulator.Start(emulator.Config{APIKeys: []string{e2eAPIKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	deadLetter := filepath.Join(dir, "dead-letter-2.jsonl")
	next := startSender(t, senderEnv(c, topic, group, srv.URL+"/2/httpapi", deadLetter))
	eventually(t, "the next owner delivers every event", func() bool { return srv.Stats().EventsIngested >= int64(len(events)) })
	waitCommitted(t, c, group, topic)
	next.stop(t)

	recorded := map[string]int{}
	for _, ev := range srv.Events() {
		recorded[ev.InsertID]++
	}
	for _, ev := range events {
		if recorded[ev.insertID] != 1 {
			t.Errorf("event %s recorded %d times, want once", ev.insertID, recorded[ev.insertID])
		}
	}
	if dead := sendDeadLetters(t, deadLetter); len(dead) > 0 {
		t.Errorf("dead letters: %v", dead)
	}
	t.Logf("the first instance sent %d requests that were never answered", requests.Load())
}

// The receive stage with Kafka in between, killed mid-run: every event
// acknowledged to Braze is in Kafka, keyed by its user_id, or in the dead
// letter (those the mapping refuses); left-out events are nowhere.
func TestKafkaReceiverLosesNothingAcknowledgedThroughACrash(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 12)
	events := workload(t, 6000, 14)
	deadLetter := filepath.Join(t.TempDir(), "dead-letter.jsonl")
	env := receiverEnv{Address: "127.0.0.1:0", Token: e2eToken, DeadLetter: deadLetter,
		Extra: []string{"KAFKA_BROKERS=" + strings.Join(c.Brokers, ","), "KAFKA_TOPIC=" + topic}}
	start := func() *receiverProc {
		p := startProcess(t, bin("connect-amplitude"), env.environ(), "run", "config/kafka-receive.yaml")
		return &receiverProc{process: p, URL: p.waitFor(t, receiverListening)}
	}
	rcv := start()
	sim := startSim(t, rcv.URL, e2eToken, events, simFlags...)
	adm := kadm.NewClient(c.Client(t))
	eventually(t, "a fifth of the events are in Kafka", func() bool {
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return err == nil && n >= int64(len(events)/5)
	})
	restarted := crashMidRun(t, rcv, sim, func(address string) *receiverProc {
		env.Address = address
		return start()
	})
	report, outcomes := sim.wait(t)
	t.Logf("braze-sim: %+v", report)
	if report.Answers["connection_error"] == 0 {
		t.Error("braze-sim saw no connection error: the crash went unnoticed")
	}
	restarted.stop(t)

	inKafka := map[string]int{}
	for _, r := range c.ReadAll(t, topic) {
		ev := gjson.ParseBytes(r.Value)
		id := ev.Get("insert_id").String()
		inKafka[id]++
		if want := ev.Get("user_id").String(); string(r.Key) != want {
			t.Errorf("%s: key %q, want its user_id %q", id, r.Key, want)
		}
	}
	dead := deadLetters(t, deadLetter)
	if len(outcomes) != len(events) {
		t.Fatalf("braze-sim reported %d outcomes for %d events", len(outcomes), len(events))
	}
	fates := expectedFates(t, events)
	count := map[fate]int{}
	for _, o := range outcomes {
		if o.Status != brazesim.Acked {
			t.Errorf("Braze's request for event %s was not acknowledged: %s %s", o.ID, o.Status, o.Reason)
		}
		f := fates[o.ID]
		count[f]++
		switch f {
		case delivered, amplitudeFails: // Amplitude's refusals are the send stage's
			if inKafka[o.ID] == 0 || len(dead[o.ID]) != 0 {
				t.Errorf("event %s: in Kafka %d times, dead letters %q; want it in Kafka", o.ID, inKafka[o.ID], dead[o.ID])
			}
		case excluded:
			if inKafka[o.ID] != 0 || len(dead[o.ID]) != 0 {
				t.Errorf("excluded event %s: in Kafka %d times, dead letters %q; want neither", o.ID, inKafka[o.ID], dead[o.ID])
			}
		case mappingFailed:
			if inKafka[o.ID] != 0 || len(dead[o.ID]) == 0 || !strings.HasPrefix(dead[o.ID][0], "currents event ") {
				t.Errorf("event %s: in Kafka %d times, dead letters %q; want a mapping dead letter", o.ID, inKafka[o.ID], dead[o.ID])
			}
		}
	}
	for id := range inKafka {
		if _, ok := fates[id]; !ok {
			t.Errorf("Kafka holds an unknown insert_id %q", id)
		}
	}
	if count[delivered] == 0 || count[excluded] == 0 || count[mappingFailed] == 0 {
		t.Errorf("the workload does not exercise every path: %v", count)
	}
	duplicates := 0
	for _, n := range inKafka {
		duplicates += n - 1
	}
	t.Logf("%d events: %d in Kafka (%d more than once: Braze sends again what a crash left unanswered), %d excluded, %d dead-lettered by the mapping",
		len(events), len(inKafka), duplicates, count[excluded], count[mappingFailed])
}

// eventually polls cond every 50 ms until it holds, for up to 2 minutes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
