// Package batcherr reports the messages of a batch that failed for good,
// each with its own error, as a *service.BatchError: a `fallback` output
// then sends exactly those to the next output with the error in its
// `fallback_error` metadata, and the others count as delivered.
package batcherr

import (
	"errors"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// From returns nil when no errs[i] is set, else a BatchError naming each
// message i whose errs[i] is set; summary is the error as a whole.
func From(batch service.MessageBatch, errs []error, summary string) error {
	var bErr *service.BatchError
	for i, err := range errs {
		if err == nil {
			continue
		}
		if bErr == nil {
			bErr = service.NewBatchError(batch, errors.New(summary))
		}
		bErr.Failed(i, err)
	}
	if bErr == nil {
		return nil
	}
	return bErr
}
