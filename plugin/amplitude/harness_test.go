package amplitude

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/tidwall/gjson"
	"gopkg.in/yaml.v3"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
	"github.com/connect-amplitude/connect-amplitude/internal/testutil"
)

// The test_capture output is the dead-letter end of the documented pattern
// `fallback: [amplitude, <dead-letter>]`: it records each event it receives
// with the fallback_error the amplitude output gave it.
var captures sync.Map // name -> *capture

type capture struct {
	mu       sync.Mutex
	failures map[string][]string // insert_id -> errors, one per arrival
}

func init() {
	err := service.RegisterBatchOutput("test_capture",
		service.NewConfigSpec().Field(service.NewStringField("name")),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			name, err := conf.FieldString("name")
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			c, _ := captures.LoadOrStore(name, &capture{failures: map[string][]string{}})
			return c.(*capture), service.BatchPolicy{}, 1, nil
		})
	if err != nil {
		panic(err)
	}
}

// The test_metrics exporter records every metric of a pipeline, so that
// tests read the output's counters as an operator would.
var metricSets sync.Map // name -> *metricSet

type metricSet struct {
	mu     sync.Mutex
	values map[string]map[string]int64 // metric name -> "key=value,..." -> value
}

func init() {
	err := service.RegisterMetricsExporter("test_metrics",
		service.NewConfigSpec().Field(service.NewStringField("name")),
		func(conf *service.ParsedConfig, _ *service.Logger) (service.MetricsExporter, error) {
			name, err := conf.FieldString("name")
			if err != nil {
				return nil, err
			}
			m, _ := metricSets.LoadOrStore(name, &metricSet{values: map[string]map[string]int64{}})
			return m.(*metricSet), nil
		})
	if err != nil {
		panic(err)
	}
}

type metricValue struct {
	set    *metricSet
	name   string
	labels string
	add    bool // a counter or timer (counts its timings); else a gauge
}

func (v metricValue) Incr(n int64) { v.set.record(v, n) }
func (v metricValue) Timing(int64) { v.set.record(v, 1) }
func (v metricValue) Set(n int64)  { v.set.record(v, n) }
func (m *metricSet) record(v metricValue, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v.add {
		n += m.values[v.name][v.labels]
	}
	m.values[v.name][v.labels] = n
}

func (m *metricSet) ctor(name string, keys []string, add bool) func(values ...string) metricValue {
	m.mu.Lock()
	if m.values[name] == nil {
		m.values[name] = map[string]int64{}
	}
	m.mu.Unlock()
	return func(values ...string) metricValue {
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + values[i]
		}
		return metricValue{set: m, name: name, labels: "," + strings.Join(pairs, ",") + ",", add: add}
	}
}

func (m *metricSet) NewCounterCtor(name string, keys ...string) service.MetricsExporterCounterCtor {
	c := m.ctor(name, keys, true)
	return func(values ...string) service.MetricsExporterCounter { return c(values...) }
}

func (m *metricSet) NewTimerCtor(name string, keys ...string) service.MetricsExporterTimerCtor {
	c := m.ctor(name, keys, true)
	return func(values ...string) service.MetricsExporterTimer { return c(values...) }
}

func (m *metricSet) NewGaugeCtor(name string, keys ...string) service.MetricsExporterGaugeCtor {
	c := m.ctor(name, keys, false)
	return func(values ...string) service.MetricsExporterGauge { return c(values...) }
}

func (m *metricSet) Close(context.Context) error { return nil }

// sum adds up a metric over the label sets that hold every given key=value.
func (m *metricSet) sum(name string, labels ...string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var total int64
	for set, v := range m.values[name] {
		all := true
		for _, l := range labels {
			all = all && strings.Contains(set, ","+l+",")
		}
		if all {
			total += v
		}
	}
	return total
}

// names lists the metrics created, whether or not they were ever set.
func (m *metricSet) names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for name := range m.values {
		out = append(out, name)
	}
	return out
}

func (c *capture) Connect(context.Context) error { return nil }
func (c *capture) Close(context.Context) error   { return nil }
func (c *capture) WriteBatch(_ context.Context, b service.MessageBatch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range b {
		raw, _ := m.AsBytes()
		reason, _ := m.MetaGet("fallback_error")
		id := gjson.GetBytes(raw, "insert_id").String()
		c.failures[id] = append(c.failures[id], reason)
	}
	return nil
}

func (c *capture) snapshot() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]string, len(c.failures))
	for k, v := range c.failures {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// pipeline is a real stream: a producer feeding `fallback: [amplitude, test_capture]`.
type pipeline struct {
	name    string
	produce service.MessageBatchHandlerFunc
	capture *capture
	metrics *metricSet
	logs    *syncbuf.Buffer // log lines at warn level and above
	stop    func()
}

var pipelines atomic.Int64

// startPipeline runs a stream whose amplitude output has the given YAML
// fields on top of the test defaults (fast backoffs), after the given
// processors.
func startPipeline(t *testing.T, url string, fields string, processors ...string) *pipeline {
	t.Helper()
	p, sb := newPipeline(t, fmt.Sprintf("capture-%d", pipelines.Add(1)))
	var err error
	if p.produce, err = sb.AddBatchProducerFunc(); err != nil {
		t.Fatal(err)
	}
	for _, proc := range processors {
		if err := sb.AddProcessorYAML(proc); err != nil {
			t.Fatal(err)
		}
	}
	if err := sb.AddOutputYAML(fmt.Sprintf(`fallback: [ {amplitude: %s}, {test_capture: {name: %s}} ]`, amplitudeConfig(t, url, fields), p.name)); err != nil {
		t.Fatal(err)
	}
	p.run(t, sb)
	return p
}

// amplitudeConfig is the output's config as JSON: the test defaults (fast
// backoffs) with the given YAML fields on top.
func amplitudeConfig(t *testing.T, url, fields string) []byte {
	t.Helper()
	conf := map[string]any{
		"endpoint":           url + "/2/httpapi",
		"api_key":            "test-api-key",
		"retry":              map[string]any{"initial_interval": "10ms", "max_interval": "100ms"},
		"config_fault_retry": map[string]any{"initial_interval": "50ms", "max_interval": "200ms"},
		"max_in_flight":      4,
		"log_interval":       "100ms",
	}
	var extra map[string]any
	if fields != "" {
		if err := yamlToMap(fields, &extra); err != nil {
			t.Fatalf("fields: %v", err)
		}
	}
	for k, v := range extra {
		conf[k] = v
	}
	amp, _ := json.Marshal(conf)
	return amp
}

// newPipeline starts a stream builder whose logs, metrics and dead letters
// (test_capture with the same name) the pipeline keeps.
func newPipeline(t *testing.T, name string) (*pipeline, *service.StreamBuilder) {
	t.Helper()
	sb := service.NewStreamBuilder()
	logs := &syncbuf.Buffer{}
	sb.SetLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := sb.SetMetricsYAML(fmt.Sprintf(`test_metrics: {name: %s}`, name)); err != nil {
		t.Fatal(err)
	}
	c, _ := captures.LoadOrStore(name, &capture{failures: map[string][]string{}})
	m, _ := metricSets.LoadOrStore(name, &metricSet{values: map[string]map[string]int64{}})
	return &pipeline{name: name, capture: c.(*capture), metrics: m.(*metricSet), logs: logs}, sb
}

// run builds and runs the stream; p.stop stops it, at the latest when the
// test ends.
func (p *pipeline) run(t *testing.T, sb *service.StreamBuilder) {
	t.Helper()
	p.stop = testutil.RunStream(t, sb)
}

// send produces events in batches of batchSize, concurrently, and waits for
// every batch to be acknowledged.
func (p *pipeline) send(t *testing.T, events [][]byte, batchSize int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang, not a slow run
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(events)/batchSize+1)
	for start := 0; start < len(events); start += batchSize {
		end := min(start+batchSize, len(events))
		batch := make(service.MessageBatch, 0, end-start)
		for _, ev := range events[start:end] {
			batch = append(batch, service.NewMessage(ev))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.produce(ctx, batch); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a batch was not acknowledged: %v", err)
	}
}

// event is an Amplitude event as currents_to_amplitude makes them.
func event(insertID, userID, deviceID string) []byte {
	ev := map[string]any{
		"event_type": "[Appboy] Email Open", "insert_id": insertID, "library": "Braze",
		"time": time.Now().UnixMilli(), "event_properties": map[string]any{"campaign_name": "Welcome"},
	}
	if userID != "" {
		ev["user_id"] = userID
	}
	if deviceID != "" {
		ev["device_id"] = deviceID
	}
	b, _ := json.Marshal(ev)
	return b
}

// events makes n events of distinct ids, insert ids prefixed.
func events(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = event(fmt.Sprintf("%s-%05d", prefix, i), fmt.Sprintf("user-%s-%d", prefix, i), fmt.Sprintf("device-%s-%d", prefix, i))
	}
	return out
}

// expectOutcomes checks the end state: each event accepted by the emulator
// exactly once, or failed with the expected reason and not accepted; and
// nothing else accepted or failed.
func expectOutcomes(t *testing.T, emu *emulator.Server, p *pipeline, sent [][]byte, failReason map[string]string) {
	t.Helper()
	accepted := map[string]int{}
	for _, ev := range emu.Events() {
		accepted[ev.InsertID]++
	}
	failures := p.capture.snapshot()
	for _, ev := range sent {
		id := gjson.GetBytes(ev, "insert_id").String()
		want, shouldFail := failReason[id]
		switch {
		case shouldFail:
			if accepted[id] != 0 {
				t.Errorf("%s: accepted, want failed with %s", id, want)
			}
			if got := failures[id]; len(got) != 1 || !strings.HasPrefix(got[0], "amplitude: "+want+": ") {
				t.Errorf("%s: failures %q, want one with reason %s", id, got, want)
			}
		default:
			if accepted[id] != 1 {
				t.Errorf("%s: accepted %d times, want once", id, accepted[id])
			}
			if len(failures[id]) != 0 {
				t.Errorf("%s: also failed: %q", id, failures[id])
			}
		}
		delete(accepted, id)
		delete(failures, id)
	}
	if len(accepted) != 0 || len(failures) != 0 {
		t.Errorf("unexpected events: accepted %v, failed %v", accepted, failures)
	}
}

func yamlToMap(s string, out *map[string]any) error { return yaml.Unmarshal([]byte(s), out) }
