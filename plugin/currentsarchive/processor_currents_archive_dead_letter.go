package currentsarchive

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/backfill"
)

func deadLetterSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Utility").
		Summary("Counts each message as dead-lettered in the progress of the currents_archive input it came from, and leaves it as it is.").
		Description("Put it on the routes that write dead letters, so that the input's progress line, summary and `currents_archive_events_dead_lettered` metric tell sent events from dead-lettered ones: the input itself sees both acknowledged alike. Messages from other inputs pass untouched and uncounted.").
		Example("Count the dead letters of a backfill", "", `
output:
  fallback:
    - amplitude:
        api: batch
        api_key: "${AMPLITUDE_API_KEY}"
    - file:
        path: ./dead-letter.jsonl
        codec: lines
      processors:
        - currents_archive_dead_letter: {}
        - mapping: 'root = {"reason": @fallback_error, "event": this, "path": @path}'
`)
}

func init() {
	service.MustRegisterProcessor("currents_archive_dead_letter", deadLetterSpec(),
		func(*service.ParsedConfig, *service.Resources) (service.Processor, error) {
			return deadLetterCounter{}, nil
		})
}

type deadLetterCounter struct{}

func (deadLetterCounter) Process(_ context.Context, m *service.Message) (service.MessageBatch, error) {
	if c := backfill.CountersFrom(m.Context()); c != nil {
		c.EventsDead.Add(1)
	}
	return service.MessageBatch{m}, nil
}

func (deadLetterCounter) Close(context.Context) error { return nil }
