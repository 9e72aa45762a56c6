package currentsjson

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// readFile runs a real stream, file input with the scanner, and returns the
// batches it emitted.
func readFile(t *testing.T, content, scannerYAML string) [][]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	sb := service.NewStreamBuilder()
	if err := sb.SetLoggerYAML("level: error"); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddInputYAML(fmt.Sprintf("file:\n  paths: [%q]\n  scanner:\n    currents_jsonl: %s\n", path, scannerYAML)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var batches [][]string
	err := sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
		var msgs []string
		for _, m := range b {
			raw, _ := m.AsBytes()
			msgs = append(msgs, string(raw))
		}
		mu.Lock()
		batches = append(batches, msgs)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := stream.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return batches
}

func TestEventsAndBodiesAreEmittedInOrderInBatches(t *testing.T) {
	content := strings.Join([]string{
		`{"id":"1"}`,
		`{"events":[{"id":"2"},{"id":"3"},{"id":"4"},{"id":"5"}]}`,
		``,
		`{"id":"6"}`,
		`{"events":[]}`,
		`{"events":[{"id":"7"}]}`,
	}, "\n")
	batches := readFile(t, content, "{batch_size: 3}")
	want := [][]string{
		{`{"id":"1"}`, `{"id":"2"}`, `{"id":"3"}`},
		{`{"id":"4"}`, `{"id":"5"}`, `{"id":"6"}`},
		{`{"id":"7"}`},
	}
	if fmt.Sprint(batches) != fmt.Sprint(want) {
		t.Errorf("batches %q, want %q", batches, want)
	}
}

// A line the scanner cannot split goes on whole, for the mapping to fail
// with its reason and the dead letter to keep.
func TestLinesThatAreNotEnvelopesAreEmittedWhole(t *testing.T) {
	lines := []string{
		`not json at all`,
		`{"events":[{"id":"a"}`, // a truncated body
		`{"events":"none"}`,
		`{"events":[{"id":"a"}],"events":[{"id":"b"}]}`, // which list is meant is ambiguous
	}
	batches := readFile(t, strings.Join(lines, "\n")+"\n", "{batch_size: 10}")
	if len(batches) != 1 || fmt.Sprint(batches[0]) != fmt.Sprint(lines) {
		t.Errorf("batches %q, want the lines whole", batches)
	}
}

func TestALineLongerThanTheLimitFailsNamingIt(t *testing.T) {
	s := (&jsonlScannerCreator{batchSize: 10, maxLine: 64})
	content := `{"id":"1"}` + "\n" + `{"id":"` + strings.Repeat("x", 100) + `"}` + "\n"
	sc, err := s.Create(io.NopCloser(strings.NewReader(content)), func(context.Context, error) error { return nil },
		service.NewScannerSourceDetails())
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := sc.NextBatch(context.Background())
	if err != nil || len(first) != 1 {
		t.Fatalf("first batch %v, %v: want the line before the long one", first, err)
	}
	_, _, err = sc.NextBatch(context.Background())
	if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "line 2 is longer than max_line_length") {
		t.Errorf("error %v, want one naming line 2", err)
	}
}
