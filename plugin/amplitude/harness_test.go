package amplitude

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
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
	produce service.MessageBatchHandlerFunc
	capture *capture
	logs    *syncbuf.Buffer // warnings and errors, also written to stderr
	stop    func()
}

var pipelines atomic.Int64

// startPipeline runs a stream whose amplitude output has the given YAML
// fields on top of the test defaults (fast backoffs), after the given
// processors.
func startPipeline(t *testing.T, url string, fields string, processors ...string) *pipeline {
	t.Helper()
	name := fmt.Sprintf("capture-%d", pipelines.Add(1))
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
	sb := service.NewStreamBuilder()
	logs := new(syncbuf.Buffer)
	sb.SetLogger(slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelWarn})))
	produce, err := sb.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	for _, proc := range processors {
		if err := sb.AddProcessorYAML(proc); err != nil {
			t.Fatal(err)
		}
	}
	if err := sb.AddOutputYAML(fmt.Sprintf(`fallback: [ {amplitude: %s}, {test_capture: {name: %s}} ]`, amp, name)); err != nil {
		t.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- stream.Run(context.Background()) }()
	c, _ := captures.LoadOrStore(name, &capture{failures: map[string][]string{}})
	p := &pipeline{produce: produce, capture: c.(*capture), logs: logs}
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := stream.Stop(ctx); err != nil {
				t.Errorf("stopping the stream: %v", err)
			}
			<-done
		})
	}
	t.Cleanup(p.stop)
	return p
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
