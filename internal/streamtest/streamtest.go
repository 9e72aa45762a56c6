// Package streamtest runs Benthos streams built in tests until their input
// ends, with their log kept for failure messages.
package streamtest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/syncbuf"
)

// NewBuilder returns a stream builder that logs at level into the buffer.
func NewBuilder(level slog.Level) (*service.StreamBuilder, *syncbuf.Buffer) {
	return NewBuilderIn(service.GlobalEnvironment(), level)
}

// NewBuilderIn is NewBuilder in the given environment, such as the binary's.
func NewBuilderIn(env *service.Environment, level slog.Level) (*service.StreamBuilder, *syncbuf.Buffer) {
	logs := &syncbuf.Buffer{}
	b := env.NewStreamBuilder()
	b.SetLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})))
	return b, logs
}

// RunToEnd builds the stream and runs it until its input ends, and returns
// the log. A stream that fails, or still runs after timeout, fails the test
// with its log.
func RunToEnd(tb testing.TB, b *service.StreamBuilder, logs *syncbuf.Buffer, timeout time.Duration) string {
	tb.Helper()
	stream, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := stream.Run(ctx); err != nil {
		tb.Fatalf("stream: %v\n%s", err, logs.String())
	}
	return logs.String()
}
