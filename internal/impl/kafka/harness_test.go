package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/connect-amplitude/connect-amplitude/internal/impl/kafka/kafkatest"
	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
)

// held is a batch the test_hold output received: it is acknowledged or
// nacked when the test answers it.
type held struct {
	batch service.MessageBatch
	reply chan error
}

func (h *held) content(i int) string {
	b, _ := h.batch[i].AsBytes()
	return string(b)
}

func (h *held) meta(i int, key string) string {
	v, _ := h.batch[i].MetaGet(key)
	return v
}

func (h *held) ack()           { h.reply <- nil }
func (h *held) nack(err error) { h.reply <- err }

// holdOutput is the test_hold output's writer: every batch waits for the
// test's answer, up to 1000 batches at once.
type holdOutput struct{ batches chan *held }

func (o holdOutput) Connect(context.Context) error { return nil }
func (o holdOutput) Close(context.Context) error   { return nil }
func (o holdOutput) WriteBatch(ctx context.Context, b service.MessageBatch) error {
	h := &held{batch: b, reply: make(chan error, 1)}
	select {
	case o.batches <- h:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-h.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newEnv is an environment with the pure components, kafka_franz and a
// test_hold output whose batches arrive on the returned channel.
func newEnv(t *testing.T) (*service.Environment, chan *held) {
	t.Helper()
	env := service.NewEnvironment()
	if err := Register(env); err != nil {
		t.Fatal(err)
	}
	batches := make(chan *held, 1000)
	if err := env.RegisterBatchOutput("test_hold", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			return holdOutput{batches}, service.BatchPolicy{}, 1000, nil
		}); err != nil {
		t.Fatal(err)
	}
	return env, batches
}

// stream is a running Benthos stream and its log.
type stream struct {
	s    *service.Stream
	log  *syncbuf.Buffer
	done chan error
}

// startStream builds a stream from YAML in env and runs it until the test
// ends or stop is called.
func startStream(t *testing.T, env *service.Environment, yaml string) *stream {
	t.Helper()
	b := env.NewStreamBuilder()
	if err := b.SetYAML(yaml); err != nil {
		t.Fatalf("stream config: %v\n%s", err, yaml)
	}
	log := &syncbuf.Buffer{}
	b.SetLogger(slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo})))
	s, err := b.Build()
	if err != nil {
		t.Fatalf("building the stream: %v", err)
	}
	st := &stream{s: s, log: log, done: make(chan error, 1)}
	go func() { st.done <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		st.stop(t)
		if t.Failed() {
			t.Logf("stream log:\n%s", log.String())
		}
	})
	return st
}

// stop stops the stream, giving messages in flight 10 s to settle.
func (s *stream) stop(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		return
	default:
	}
	if err := s.s.StopWithin(10 * time.Second); err != nil {
		t.Errorf("stopping the stream: %v", err)
	}
	<-s.done
	close(s.done)
}

// inputYAML is a kafka_franz input of topic in group with short timings for
// tests, plus extra fields (indented YAML lines).
func inputYAML(c *kafkatest.Cluster, topic, group, extra string) string {
	return fmt.Sprintf(`
input:
  kafka_franz:
    seed_brokers: [ %q ]
    topics: [ %q ]
    consumer_group: %q
    session_timeout: 6s
    heartbeat_interval: 500ms
    fetch_max_wait: 100ms
%s
`, strings.Join(c.Brokers, ","), topic, group, extra)
}

// receive waits for n batches.
func receive(t *testing.T, batches chan *held, n int) []*held {
	t.Helper()
	out := make([]*held, 0, n)
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case h := <-batches:
			out = append(out, h)
		case <-timeout:
			t.Fatalf("received %d batches, want %d", len(out), n)
		}
	}
	return out
}

// receiveNone checks that no batch arrives for a while. Absence can only be
// shown by waiting; d is a few times what the input needs to hand one out.
func receiveNone(t *testing.T, batches chan *held, d time.Duration) {
	t.Helper()
	select {
	case h := <-batches:
		t.Fatalf("received %q, want nothing yet", h.content(0))
	case <-time.After(d):
	}
}

// eventually polls cond until it holds, for up to 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
