package brazetrack

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
	"gopkg.in/yaml.v3"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
	"github.com/connect-amplitude/connect-amplitude/internal/testutil"
)

// The test_dead_letter output is the dead-letter end of the documented
// pattern `fallback: [braze_users_track, <dead letter>]`: it records each
// object it receives with the fallback_error the output gave it.
var deadLetters sync.Map // name -> *deadLetter

type deadLetter struct {
	mu     sync.Mutex
	reason map[string]string // object -> fallback_error
}

func init() {
	err := service.RegisterBatchOutput("test_dead_letter",
		service.NewConfigSpec().Field(service.NewStringField("name")),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			name, err := conf.FieldString("name")
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			d, _ := deadLetters.LoadOrStore(name, &deadLetter{reason: map[string]string{}})
			return d.(*deadLetter), service.BatchPolicy{}, 1, nil
		})
	if err != nil {
		panic(err)
	}
}

func (d *deadLetter) Connect(context.Context) error { return nil }
func (d *deadLetter) Close(context.Context) error   { return nil }
func (d *deadLetter) WriteBatch(_ context.Context, b service.MessageBatch) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range b {
		raw, _ := m.AsBytes()
		reason, _ := m.MetaGet("fallback_error")
		d.reason[string(raw)] = reason
	}
	return nil
}

// pipeline is a real stream: a producer feeding `fallback:
// [braze_users_track, test_dead_letter]`.
type pipeline struct {
	produce service.MessageBatchHandlerFunc
	dead    *deadLetter
	logs    *syncbuf.Buffer
	stop    func()
}

var pipelines atomic.Int64

// startPipeline runs the output with the given YAML fields over the test
// defaults (fast backoffs).
func startPipeline(t *testing.T, instanceURL, fields string) *pipeline {
	t.Helper()
	conf := map[string]any{
		"instance_url":       instanceURL,
		"api_key":            "test-rest-key",
		"timeout":            "2s",
		"retry":              map[string]any{"initial_interval": "5ms", "max_interval": "50ms"},
		"config_fault_retry": map[string]any{"initial_interval": "20ms", "max_interval": "100ms"},
		"log_interval":       "50ms",
	}
	if fields != "" {
		var extra map[string]any
		if err := yaml.Unmarshal([]byte(fields), &extra); err != nil {
			t.Fatalf("fields: %v", err)
		}
		for k, v := range extra {
			conf[k] = v
		}
	}
	name := fmt.Sprintf("dead-letter-%d", pipelines.Add(1))
	out, _ := json.Marshal(map[string]any{"fallback": []any{
		map[string]any{"braze_users_track": conf},
		map[string]any{"test_dead_letter": map[string]any{"name": name}},
	}})
	sb := service.NewStreamBuilder()
	logs := new(syncbuf.Buffer)
	sb.SetLogger(slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelWarn})))
	produce, err := sb.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.AddOutputYAML(string(out)); err != nil {
		t.Fatal(err)
	}
	d, _ := deadLetters.LoadOrStore(name, &deadLetter{reason: map[string]string{}})
	return &pipeline{produce: produce, dead: d.(*deadLetter), logs: logs, stop: testutil.RunStream(t, sb)}
}

// send writes the objects as one batch and returns the dead-letter reason
// of each failed object by index; it fails the test on any other error.
func (p *pipeline) send(t *testing.T, objects []string) map[int]string {
	t.Helper()
	batch := make(service.MessageBatch, len(objects))
	for i, o := range objects {
		batch[i] = service.NewMessage([]byte(o))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.produce(ctx, batch); err != nil {
		t.Fatalf("send: %v", err)
	}
	p.dead.mu.Lock()
	defer p.dead.mu.Unlock()
	failed := map[int]string{}
	for i, o := range objects {
		if reason, ok := p.dead.reason[o]; ok {
			failed[i] = reason
			delete(p.dead.reason, o)
		}
	}
	return failed
}

// objects are n attributes objects for users prefix-0..n-1 adding one name
// to an array.
func objects(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"external_id":"%s-%d","amplitude_cohorts":{"add":["[Amplitude] A: 1"]}}`, prefix, i)
	}
	return out
}

// expectCohort checks each of the users has exactly the cohort name.
func expectCohort(t *testing.T, users map[string]map[string]any, prefix string, n int, skip map[int]bool) {
	t.Helper()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		got, ok := users[id]["amplitude_cohorts"].([]string)
		if skip[i] {
			if ok {
				t.Errorf("%s was applied though it failed: %v", id, got)
			}
			continue
		}
		if !ok || len(got) != 1 || got[0] != "[Amplitude] A: 1" {
			t.Errorf("%s: amplitude_cohorts = %v", id, users[id])
		}
	}
}

func mustNotContain(t *testing.T, logs string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs show %q:\n%s", s, logs)
		}
	}
}
