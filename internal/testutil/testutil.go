// Package testutil holds the test helpers that the component packages'
// tests share.
package testutil

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Secret is the secret the config-error tests write into their configs:
// an error must never show it.
const Secret = "s3cret"

// ExpectConfigError builds a component from yaml and checks that the error
// contains want and never shows Secret.
func ExpectConfigError[T any](t *testing.T, spec *service.ConfigSpec, build func(*service.ParsedConfig, *service.Resources) (T, error), yaml, want string) {
	t.Helper()
	conf, err := spec.ParseYAML(yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = build(conf, service.MockResources())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one containing %q", err, want)
	}
	if strings.Contains(err.Error(), Secret) {
		t.Errorf("the error shows the secret: %v", err)
	}
}

// RunStream builds and runs the stream; the function it returns, also run
// when the test ends, stops it within 10s and waits for it, once.
func RunStream(t *testing.T, sb *service.StreamBuilder) (stop func()) {
	t.Helper()
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = stream.Run(context.Background())
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := stream.Stop(ctx); err != nil {
				t.Errorf("stopping the stream: %v", err)
			}
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}
