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
	err := From(batch, []error{nil, errors.New("b failed"), nil}, "some failed")
	var bErr *service.BatchError
	if !errors.As(err, &bErr) || err.Error() != "some failed" || bErr.IndexedErrors() != 1 {
		t.Fatalf("error %v", err)
	}
	bErr.WalkMessagesIndexedBy(batch.Index(), func(i int, _ *service.Message, err error) bool {
		if (i == 1) != (err != nil) {
			t.Errorf("message %d: %v", i, err)
		}
		return true
	})
}
