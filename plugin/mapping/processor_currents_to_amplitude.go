package mapping

import (
	"context"
	"errors"
	"unsafe"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/internal/handoff"
)

func processorSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Mapping").
		Summary("Turns each message, a Braze Currents event as JSON, into the Amplitude event Braze's own export would send; drops the events the options leave out.").
		Description(`The same mapping as the `+"`currents_to_amplitude`"+` Bloblang method on raw bytes, in one step: the event is read in one validating pass and the message becomes the Amplitude event's JSON. It saves the Bloblang machinery around the method (a few microseconds per event), which matters at volume.

An event the options leave out (type not selected, or a device-only user while `+"`anonymous`"+` is false) is dropped. An event that cannot be mapped keeps its content and is flagged with an error naming the event id and the field, for `+"`errored()`"+` routes and dead letters. A message already flagged when it arrives (by an input, say) passes unchanged, keeping its reason.

`+currentsmap.ProducedDoc).
		Fields(currentsmap.OptionFields()...).
		Field(service.NewStringField(fieldOriginalMetadata).Default("").
			Description("A metadata key under which each message keeps the Currents event as it arrived, so that a dead-letter route can write the original of an event Amplitude refused, e.g. `root.event = metadata(\"currents_event\")`. The bytes are shared, not copied. Empty keeps nothing.").
			Example("currents_event")).
		Example("Braze's export, as fast as it goes", "", `
pipeline:
  processors:
    - currents_to_amplitude: {}
`).
		Example("Only email events, hashed addresses", "", `
pipeline:
  processors:
    - currents_to_amplitude:
        include: [ "users.messages.email.*" ]
        pii: hash
`)
}

const fieldOriginalMetadata = "original_metadata"

// ProcessorName is the processor this package registers; it shares its
// name with the Bloblang method, whose mapping it runs.
const ProcessorName = "currents_to_amplitude"

func init() {
	service.MustRegisterBatchProcessor(ProcessorName, processorSpec(),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchProcessor, error) {
			opts, err := currentsmap.OptionsFromParsed(conf)
			if err != nil {
				return nil, err
			}
			m, err := currentsmap.New(opts)
			if err != nil {
				return nil, err
			}
			original, err := conf.FieldString(fieldOriginalMetadata)
			if err != nil {
				return nil, err
			}
			return &processor{m: m, originalKey: original}, nil
		})
}

// processor maps each message in place; it keeps the batch, less the
// excluded events.
type processor struct {
	m           *currentsmap.Mapper
	originalKey string // metadata key for the event as it arrived; "" keeps none
}

func (p *processor) ProcessBatch(_ context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	kept := make(service.MessageBatch, 0, len(batch))
	chunk := currentsmap.GetChunk() // one for the batch, not one per event
	defer currentsmap.PutChunk(chunk)
	for _, msg := range batch {
		if msg.GetError() != nil {
			// Flagged upstream (an input's "events[3]: null is not a
			// Currents event"): that reason is the one to keep.
			kept = append(kept, msg)
			continue
		}
		raw, err := msg.AsBytes()
		if err != nil {
			msg.SetError(err)
			kept = append(kept, msg)
			continue
		}
		// No copy: the event is only read while it is mapped.
		var written ampapi.Fields
		out, err := p.m.MapIntoChunk(chunk, unsafe.String(unsafe.SliceData(raw), len(raw)), &written)
		switch {
		case errors.Is(err, currentsmap.ErrExcluded):
			continue
		case err != nil:
			msg.SetError(err)
		default:
			if p.originalKey != "" {
				// The message's old bytes are never written again: sharing
				// them costs nothing.
				msg.MetaSetMut(p.originalKey, raw)
			}
			msg.SetBytes(out)
			// The amplitude output then checks the event without reading it again.
			msg = msg.WithContext(handoff.With(msg.Context(), out, written))
		}
		kept = append(kept, msg)
	}
	if len(kept) == 0 {
		return nil, nil
	}
	return []service.MessageBatch{kept}, nil
}

func (p *processor) Close(context.Context) error { return nil }
