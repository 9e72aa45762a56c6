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
// message i whose errs[i] is set. The error as a whole is that message's
// own error when only one failed, else summary: Benthos hands a batch of
// one message the batch's error rather than the message's, and a dead
// letter must say why its message failed.
func From(batch service.MessageBatch, errs []error, summary string) error {
	failed, first := 0, -1
	for i, err := range errs {
		if err != nil {
			if failed++; first < 0 {
				first = i
			}
		}
	}
	if failed == 0 {
		return nil
	}
	head := errs[first]
	if failed > 1 {
		head = errors.New(summary)
	}
	bErr := service.NewBatchError(batch, head)
	for i, err := range errs {
		if err != nil {
			bErr.Failed(i, err)
		}
	}
	return bErr
}

// RegisterOutput registers a batch output that reports its messages'
// failures one by one (From), with no batching policy of its own: a batcher
// merges transactions and then reports one error for each whole
// transaction, so a fallback would dead-letter messages that were
// delivered. Batching belongs upstream. The spec must have
// service.NewOutputMaxInFlightField.
func RegisterOutput[O service.BatchOutput](name string, spec *service.ConfigSpec, build func(*service.ParsedConfig, *service.Resources) (O, error)) {
	service.MustRegisterBatchOutput(name, spec,
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			o, err := build(conf, mgr)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			inFlight, err := conf.FieldMaxInFlight()
			return o, service.BatchPolicy{}, inFlight, err
		})
}
