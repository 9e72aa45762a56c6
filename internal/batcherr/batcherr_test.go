package batcherr

import (
	"errors"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
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
