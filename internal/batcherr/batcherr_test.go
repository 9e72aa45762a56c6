package batcherr

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

func TestFromNamesEachFailedMessage(t *testing.T) {
	batch := service.MessageBatch{service.NewMessage([]byte("a")), service.NewMessage([]byte("b")), service.NewMessage([]byte("c"))}
	if err := From(batch, make([]error, 3), "x"); err != nil {
		t.Fatalf("no failure: %v", err)
	}
	err := From(batch, []error{nil, errors.New("b failed"), errors.New("c failed")}, "some failed")
	var bErr *service.BatchError
	if !errors.As(err, &bErr) || err.Error() != "some failed" || bErr.IndexedErrors() != 2 {
		t.Fatalf("error %v", err)
	}
	bErr.WalkMessagesIndexedBy(batch.Index(), func(i int, _ *service.Message, err error) bool {
		if want := map[int]string{1: "b failed", 2: "c failed"}[i]; (err == nil) != (want == "") || (err != nil && err.Error() != want) {
			t.Errorf("message %d: %v, want %q", i, err, want)
		}
		return true
	})
}

// Benthos hands a batch of one message the batch's error: with one failure
// it is that message's own, so that a dead letter says why.
func TestOneFailureIsTheBatchsError(t *testing.T) {
	batch := service.MessageBatch{service.NewMessage([]byte("a")), service.NewMessage([]byte("b"))}
	own := errors.New("b failed")
	err := From(batch, []error{nil, own}, "some failed")
	var bErr *service.BatchError
	if !errors.As(err, &bErr) || !errors.Is(err, own) || bErr.IndexedErrors() != 1 {
		t.Fatalf("error %v, want b's own as the batch's", err)
	}
}

type recordingOutput struct{ sizes chan int }

func (o *recordingOutput) Connect(context.Context) error { return nil }
func (o *recordingOutput) WriteBatch(_ context.Context, b service.MessageBatch) error {
	o.sizes <- len(b)
	return nil
}
func (o *recordingOutput) Close(context.Context) error { return nil }

var recorded = &recordingOutput{sizes: make(chan int, 10)}

func init() {
	RegisterOutput("batcherr_test_output",
		service.NewConfigSpec().Fields(service.NewOutputMaxInFlightField(), service.NewBoolField("refuse").Default(false)),
		func(conf *service.ParsedConfig, _ *service.Resources) (*recordingOutput, error) {
			if refuse, _ := conf.FieldBool("refuse"); refuse {
				return nil, errors.New("refused by its config")
			}
			return recorded, nil
		})
}

// An output registered with RegisterOutput gets each transaction as it was
// sent, never merged with another, and its config errors stop the stream.
func TestARegisteredOutputGetsEachTransactionAlone(t *testing.T) {
	b := service.NewStreamBuilder()
	send, err := b.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddOutputYAML("batcherr_test_output: {max_in_flight: 1}"); err != nil {
		t.Fatal(err)
	}
	stream, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = stream.Run(ctx) }()
	for range 3 {
		if err := send(ctx, service.MessageBatch{service.NewMessage([]byte("a")), service.NewMessage([]byte("b"))}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if n := <-recorded.sizes; n != 2 {
			t.Fatalf("the output got a batch of %d, want each transaction of 2 alone", n)
		}
	}

	bad := service.NewStreamBuilder()
	if _, err := bad.AddBatchProducerFunc(); err != nil {
		t.Fatal(err)
	}
	if err := bad.AddOutputYAML("batcherr_test_output: {refuse: true}"); err != nil {
		t.Fatal(err)
	}
	if s, err := bad.Build(); err == nil {
		err = s.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "refused by its config") {
			t.Fatalf("a config error: %v", err)
		}
	} else if !strings.Contains(err.Error(), "refused by its config") {
		t.Fatalf("a config error: %v", err)
	}
}
