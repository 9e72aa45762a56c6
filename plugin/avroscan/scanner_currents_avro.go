// Package avroscan provides the currents_avro scanner, which reads the Avro
// files of Braze's Currents storage export (S3, GCS, Azure) and emits each
// record as a Currents event in the Custom HTTP connector's JSON shape.
package avroscan

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hamba/avro/v2"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/backfill"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"github.com/connect-amplitude/connect-amplitude/internal/handoff"
)

const (
	caFieldEventType = "event_type"
	caFieldBatchSize = "batch_size"
	caFieldEmit      = "emit"
	caFieldMap       = "currents_to_amplitude"

	emitCurrents  = "currents"
	emitAmplitude = "amplitude"

	// Metadata the scanner sets on every message.
	MetaEventType = "currents_event_type"
	MetaBlock     = "currents_avro_block"
	MetaRecord    = "currents_avro_record"
	// MetaPropertiesError is set when a properties column is not a JSON
	// object and was kept as a string.
	MetaPropertiesError = "currents_properties_error"
)

func currentsAvroScannerSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Summary("Reads the Avro object container files of Braze's Currents storage export (S3, Google Cloud Storage, Azure Blob Storage) and emits one message per event, in the JSON shape of Braze's Custom HTTP connector.").
		Description(`
Each record becomes `+"`"+`{"event_type", "id", "time", "user": {...}, "properties": {...}}`+"`"+`: `+"`user_id`, `external_user_id`, `device_id` and `timezone`"+` go in `+"`user`"+`, every other column in `+"`properties`"+`. Null union values are left out. The JSON-encoded `+"`properties`"+` column of custom events and purchases becomes the object `+"`custom_properties` / `purchase_properties`"+`; if it is not a JSON object it is kept as a string and the message gets the metadata `+"`"+MetaPropertiesError+"`"+`. 32-bit floats are written with the digits they carry (3.14, not 3.140000104904175). Strings are kept byte for byte: one that is not UTF-8 is not replaced, and the mapping refuses its event naming the field. The output feeds the same mapping as events received over HTTP.

The event type comes from the file's writer schema (`+"`dataexport.S3.inner.users.behaviors`"+` + `+"`Purchase`"+` is `+"`users.behaviors.Purchase`"+`; older files name the type directly). When the schema name is not a Currents type, the `+"`event_type=<type>`"+` segment of the object key or file path is used (the source name the input hands to its scanner: the path for `+"`file`"+`, the object key for `+"`aws_s3`, `gcp_cloud_storage` and `azure_blob_storage`"+`). Otherwise the file fails with an error naming it, unless the `+"`event_type`"+` field is set.

Codecs null, deflate and snappy are read. A block that is truncated or corrupt fails the file with an error naming the file and the block; the records of the blocks before it have been emitted exactly once, and none of the damaged block is emitted. The error is reported to the input, which nacks the object (SQS-driven `+"`aws_s3`"+` redelivers it) or logs it and moves on to the next file.

== Metadata

This scanner adds the following metadata to each message, besides the input's own (`+"`path`, `s3_key`"+`, ...):

- `+MetaEventType+`: the Currents event type
- `+MetaBlock+`: the number of the Avro block the record came from, from 1
- `+MetaRecord+`: the position of the record in the file, from 0
- `+MetaPropertiesError+`: only when the properties column is not a JSON object
`).
		Fields(
			service.NewStringField(caFieldEventType).
				Description("The event type of every record, overriding the writer schema and the path. Leave empty to detect it.").
				Example("users.behaviors.Purchase").
				Default(""),
			service.NewIntField(caFieldBatchSize).
				Description("The largest number of records per emitted batch; a batch never spans two Avro blocks. The default of one follows the other scanners: batching belongs to the output's batching policy, and a nack then retries only the events that failed. Larger batches cost less per record when a whole file is replayed anyway.").
				Default(1).
				LintRule(`root = if this < 1 { ["batch_size must be at least 1"] }`).
				Advanced(),
			service.NewStringAnnotatedEnumField(caFieldEmit, map[string]string{
				emitCurrents:  "Each record as a Currents event in the Custom HTTP connector's JSON shape, for any pipeline.",
				emitAmplitude: "Each record mapped to its Amplitude event here, with the options of `" + caFieldMap + "`: the events the `currents_to_amplitude` processor would make of the Currents events, byte for byte, without writing the Currents event's JSON and reading it again (a sixth less CPU end to end in paired runs of `make bench`'s Avro case). Records the options leave out are not emitted (and count as left out in a `currents_archive` input's progress); a record that cannot be mapped is emitted as its Currents event, flagged with the mapping's error, as the processor does. Mapped events reach the `amplitude` output without being read again.",
			}).
				Description("What each message holds.").
				Default(emitCurrents),
			service.NewObjectField(caFieldMap, currentsmap.OptionFields()...).
				Description("The options of the mapping, as the `currents_to_amplitude` processor's, when `"+caFieldEmit+"` is `"+emitAmplitude+"`."),
		).
		Example("A downloaded copy of the bucket", "Read every event file of an archive and map it for Amplitude; events the mapping leaves out are dropped. In a Redpanda Connect build that includes this plugin, `aws_s3` (with `bucket` and `prefix`), `gcp_cloud_storage` or `azure_blob_storage` take the same `scanner` in place of `file`.", `
input:
  file:
    paths: [ "./currents/**/*.avro" ]
    scanner:
      currents_avro:
        batch_size: 1000
pipeline:
  processors:
    - currents_to_amplitude: {}
`)
}

func init() {
	service.MustRegisterBatchScannerCreator("currents_avro", currentsAvroScannerSpec(),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchScannerCreator, error) {
			return currentsAvroScannerFromParsed(conf)
		})
}

func currentsAvroScannerFromParsed(conf *service.ParsedConfig) (*currentsAvroScannerCreator, error) {
	c := &currentsAvroScannerCreator{}
	var err error
	emit, err := conf.FieldString(caFieldEmit)
	if err != nil {
		return nil, err
	}
	if emit == emitAmplitude {
		opts, err := currentsmap.OptionsFromParsed(conf.Namespace(caFieldMap))
		if err != nil {
			return nil, err
		}
		if c.mapper, err = currentsmap.New(opts); err != nil {
			return nil, fmt.Errorf("%s: %w", caFieldMap, err)
		}
	}
	if c.eventType, err = conf.FieldString(caFieldEventType); err != nil {
		return nil, err
	}
	if c.batchSize, err = conf.FieldInt(caFieldBatchSize); err != nil {
		return nil, err
	}
	if c.batchSize < 1 {
		return nil, fmt.Errorf("%s must be at least 1, got %d", caFieldBatchSize, c.batchSize)
	}
	return c, nil
}

type currentsAvroScannerCreator struct {
	eventType string
	batchSize int
	mapper    *currentsmap.Mapper // nil: emit Currents events
}

// Create does no I/O: a file input retries a failed Create on the same file
// forever, while an error from NextBatch makes it move on to the next file.
func (c *currentsAvroScannerCreator) Create(rdr io.ReadCloser, aFn service.AckFunc, details *service.ScannerSourceDetails) (service.BatchScanner, error) {
	source := details.Name()
	if source == "" {
		source = "(unnamed source)"
	}
	return service.AutoAggregateBatchScannerAcks(&currentsAvroScanner{
		creator: c,
		source:  source,
		rdr:     rdr,
	}, aFn), nil
}

func (c *currentsAvroScannerCreator) Close(context.Context) error {
	return nil
}

type currentsAvroScanner struct {
	creator *currentsAvroScannerCreator
	source  string
	rdr     io.ReadCloser

	file          *container
	eventTypeMeta any // the event type, boxed once for metadata
	norm          *normaliser
	records       decoder // over the data of the current block
	next          int64   // position in the file of the next record decoded
	// jsonPerAvroByte is the size of the events of the last block per byte of
	// its data, in sixteenths.
	jsonPerAvroByte int

	pending service.MessageBatch // decoded from the current block, not yet emitted

	counters *backfill.Counters // of a currents_archive input, or nil
	msgCtx   context.Context    // the context of mapped events, or nil
	chunk    []byte             // mapped events are written to its free end
}

// NextBatch returns io.EOF only at the clean end of the file. Other errors
// are formatted with %v, never wrapped: inputs and the ack aggregator take any
// error wrapping io.EOF (as a truncated file's does) for a complete file.
func (s *currentsAvroScanner) NextBatch(ctx context.Context) (service.MessageBatch, error) {
	if s.file == nil {
		if err := s.open(); err != nil {
			return nil, fmt.Errorf("currents_avro: %s: %v", s.source, err)
		}
		// A backfill's progress counts the records left out, and its
		// events carry the counters for its dead-letter route.
		if s.counters = backfill.CountersFrom(ctx); s.counters != nil {
			s.msgCtx = backfill.WithCounters(context.Background(), s.counters)
		}
	}
	for len(s.pending) == 0 {
		if err := s.readBlock(); err == io.EOF {
			return nil, io.EOF
		} else if err != nil {
			return nil, fmt.Errorf("currents_avro: %s: block %d: %v", s.source, s.file.block, err)
		}
	}
	n := min(s.creator.batchSize, len(s.pending))
	batch := s.pending[:n:n]
	s.pending = s.pending[n:]
	return batch, nil
}

func (s *currentsAvroScanner) open() error {
	file, err := openContainer(s.rdr)
	if err != nil {
		return err
	}
	schema, ok := file.schema.(*avro.RecordSchema)
	if !ok {
		return fmt.Errorf("the writer schema is of type %s, not a record", file.schema.Type())
	}
	eventType, err := s.resolveEventType(schema.FullName())
	if err != nil {
		return err
	}
	norm, err := newNormaliser(schema, eventType)
	if err != nil {
		return err
	}
	s.file, s.eventTypeMeta, s.norm = file, eventType, norm
	s.jsonPerAvroByte = 2 * 16
	return nil
}

// resolveEventType applies, in order: the event_type field, the writer
// schema's name, the event_type= segment of the source name.
func (s *currentsAvroScanner) resolveEventType(schemaName string) (string, error) {
	if s.creator.eventType != "" {
		return s.creator.eventType, nil
	}
	if t, ok := eventTypeFromSchemaName(schemaName); ok {
		return t, nil
	}
	if t, ok := eventTypeFromPath(s.source); ok {
		return t, nil
	}
	return "", fmt.Errorf("cannot tell the Currents event type: the writer schema is named %q and the path has no event_type=<type> segment; set the scanner's %s field", schemaName, caFieldEventType)
}

// readBlock decodes a whole block before emitting any of it: the sync marker
// and the codec vouch for a block as a whole, so a damaged block yields no
// records rather than a guess at where the damage starts.
func (s *currentsAvroScanner) readBlock() error {
	count, data, err := s.file.next()
	if err != nil {
		return err
	}
	r := &s.records
	r.reset(data)
	if s.creator.mapper != nil {
		return s.mapBlock(count, data)
	}

	// One allocation holds the events of the block, sized from the JSON to
	// Avro ratio of the previous block; each message gets a capped slice of
	// it, so appending to one cannot overwrite the next.
	arena := make([]byte, 0, len(data)*s.jsonPerAvroByte/16+64)
	// count comes from the file: a corrupt one must not size an allocation.
	ends := make([]int, 0, min(count, int64(len(data))+1))
	var propsErrs map[int]error
	for i := range count {
		var propsErr error
		arena, propsErr = s.norm.appendEvent(arena, r)
		if r.err != nil {
			return fmt.Errorf("record %d of %d: %w", i, count, r.err)
		}
		if propsErr != nil {
			if propsErrs == nil {
				propsErrs = map[int]error{}
			}
			propsErrs[int(i)] = propsErr
		}
		ends = append(ends, len(arena))
	}
	if r.remaining() > 0 {
		return fmt.Errorf("block holds data beyond the %d records its header announces", count)
	}
	if len(data) > 0 {
		s.jsonPerAvroByte = len(arena)*16/len(data) + 1
	}

	batch := make(service.MessageBatch, len(ends))
	block := any(s.file.block) // boxed once, not per message
	start := 0
	for i, end := range ends {
		msg := service.NewMessage(arena[start:end:end])
		msg.MetaSetMut(MetaEventType, s.eventTypeMeta)
		msg.MetaSetMut(MetaBlock, block)
		msg.MetaSetMut(MetaRecord, s.next)
		if err := propsErrs[i]; err != nil {
			msg.MetaSetMut(MetaPropertiesError, err.Error())
		}
		batch[i] = msg
		start = end
		s.next++
	}
	s.pending = batch
	return nil
}

func (s *currentsAvroScanner) Close(context.Context) error {
	return s.rdr.Close()
}

// mapBlock is readBlock when the scanner maps: it decodes and maps the whole
// block before emitting any of it, for the same reason.
func (s *currentsAvroScanner) mapBlock(count int64, data []byte) error {
	r := &s.records
	m := s.creator.mapper
	block := any(s.file.block) // boxed once, not per message
	batch := make(service.MessageBatch, 0, min(count, int64(len(data))+1))
	var leftOut int64
	for i := range count {
		start := r.pos
		s.room(len(data))
		free := s.chunk[len(s.chunk):]
		var written ampapi.Fields
		out, propsErr, err := s.norm.mapEvent(m, free, r, &written)
		if r.err != nil {
			return fmt.Errorf("record %d of %d: %w", i, count, r.err)
		}
		var msg *service.Message
		switch {
		case errors.Is(err, currentsmap.ErrExcluded):
			leftOut++
			s.next++
			continue
		case err == nil:
			out = currentsmap.Claim(&s.chunk, free, out)
			msg = service.NewMessage(out)
			msg = msg.WithContext(handoff.With(s.context(), out, written))
		default:
			// The Currents event, flagged with the mapping's error (or
			// mapped from it, when only its JSON tells the error).
			record := &decoder{}
			record.reset(data[start:r.pos])
			event, _ := s.norm.appendEvent(nil, record)
			msg = service.NewMessage(event)
			if errors.Is(err, errJSONRoute) {
				if out, err = m.MapRaw(nil, event); err == nil {
					msg.SetBytes(out)
				} else if errors.Is(err, currentsmap.ErrExcluded) {
					leftOut++
					s.next++
					continue
				}
			}
			if err != nil {
				msg.SetError(err)
			}
			if s.msgCtx != nil {
				msg = msg.WithContext(s.msgCtx)
			}
		}
		msg.MetaSetMut(MetaEventType, s.eventTypeMeta)
		msg.MetaSetMut(MetaBlock, block)
		msg.MetaSetMut(MetaRecord, s.next)
		if propsErr != nil {
			msg.MetaSetMut(MetaPropertiesError, propsErr.Error())
		}
		batch = append(batch, msg)
		s.next++
	}
	if r.remaining() > 0 {
		return fmt.Errorf("block holds data beyond the %d records its header announces", count)
	}
	if leftOut > 0 && s.counters != nil {
		s.counters.EventsOut.Add(leftOut)
	}
	s.pending = batch
	return nil
}

// room makes sure the chunk has a free end for an event; a block's data
// size is a generous guess of a few events' size.
func (s *currentsAvroScanner) room(guess int) {
	const minChunk = 64 << 10
	if cap(s.chunk)-len(s.chunk) < min(guess, minChunk)/4+1024 {
		s.chunk = make([]byte, 0, max(minChunk, 2*guess))
	}
}

// context is the parent of mapped events' contexts.
func (s *currentsAvroScanner) context() context.Context {
	if s.msgCtx != nil {
		return s.msgCtx
	}
	return context.Background()
}
