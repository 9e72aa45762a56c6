// Package kafka is the `kafka_franz` input and output of this project's
// binary (see Register), on the franz-go client. Their names, fields,
// defaults and metadata are those of Redpanda Connect's `kafka_franz`, a
// subset of them, so that a config written for this binary runs unchanged in
// a Redpanda Connect build. They are registered by the binary only: the
// plugin package must not replace Connect's own components of these names.
//
// The input consumes in a consumer group, hands out a partition's messages
// without waiting for earlier ones to be acknowledged (up to
// checkpoint_limit), and commits a partition's offset only past messages that
// were all acknowledged. A partition taken away by a rebalance is given up
// only once its messages in flight settled, so that two instances never send
// one key's messages at once.
package kafka

import "github.com/redpanda-data/benthos/v4/public/service"

// Register adds the kafka_franz input and output to env.
func Register(env *service.Environment) error {
	if err := env.RegisterBatchInput("kafka_franz", inputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			return newReader(conf, mgr)
		}); err != nil {
		return err
	}
	return env.RegisterBatchOutput("kafka_franz", outputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			return newWriter(conf, mgr)
		})
}
