package prometheus

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
)

// freeAddr returns a loopback address nothing listens on. Another process may
// take the port before the stream does; acceptable in a test.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestStreamServesItsMetricsAtSlashMetrics(t *testing.T) {
	addr := freeAddr(t)
	env := service.NewEnvironment()
	if err := Register(env); err != nil {
		t.Fatal(err)
	}
	sb := env.NewStreamBuilder()
	err := sb.SetYAML(fmt.Sprintf(`
http:
  enabled: true
  address: %s
logger:
  level: none
metrics:
  prometheus: {}
input:
  broker:
    inputs:
      - label: events
        generate:
          count: 5
          interval: ""
          mapping: 'root = {"event_type": "test"}'
      # Never yields a message: keeps the stream, and with it the HTTP
      # server, running after the five events while the test scrapes.
      - inproc: idle
output:
  label: amplitude
  drop: {}
`, addr))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- stream.Run(context.Background()) }()

	want := []string{
		`input_received{label="events",path="root.input.broker.inputs.0"} 5`,
		`output_sent{label="amplitude",path="root.output"} 5`,
		"# TYPE output_latency_seconds histogram",
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		body = get("http://" + addr + "/metrics")
		if containsLines(body, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkExposition(t, body, want, nil)

	if err := stream.StopWithin(10 * time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := <-runErr; err != nil {
		t.Errorf("run: %v", err)
	}
}

// get returns the body of a 200 response, or "" while the server is not up.
func get(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(body)
}

func containsLines(body string, want []string) bool {
	for _, w := range want {
		if !strings.Contains("\n"+body, "\n"+w+"\n") {
			return false
		}
	}
	return true
}
