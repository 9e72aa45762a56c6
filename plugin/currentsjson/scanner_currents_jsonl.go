// Package currentsjson is the currents_jsonl scanner: files of JSON lines
// holding single Braze Currents events or Custom HTTP connector bodies.
package currentsjson

import (
	"github.com/connect-amplitude/connect-amplitude/internal/envelope"

	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/redpanda-data/benthos/v4/public/service"
)

const (
	fieldBatchSize     = "batch_size"
	fieldMaxLineLength = "max_line_length"

	// arenaSize is the least memory the scanner takes at once to copy lines
	// into: one allocation serves many events.
	arenaSize = 64 << 10
)

func jsonlScannerSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Summary("Reads Braze Currents events from JSON lines: each line one event, or one body of the Custom HTTP connector (`{\"events\":[...]}`), and emits the events in batches.").
		Description(`
A line whose first key is `+"`events`"+` is a Custom HTTP body: its events are emitted one message each, sliced from the line without a structured parse (much cheaper than `+"`mapping: root = this.events` + `unarchive`"+`). Any other line is one event. Blank lines are skipped.

Nothing is checked beyond that: a line that is not JSON, or a body that is not an envelope (one with the `+"`events`"+` key twice included), is emitted whole as one message, so that the mapping fails it with its reason and the dead-letter output keeps it.

Events are emitted in batches of up to `+"`batch_size`"+`, spanning lines: one batch per read saves the host a transaction per event, the largest cost of reading many small events. The amplitude output fails events one by one within a batch, so a batch costs no precision in the dead letter.`).
		Fields(
			service.NewIntField(fieldBatchSize).
				Description("The most events per emitted batch.").
				Default(100).
				LintRule(`root = if this < 1 { ["batch_size must be at least 1"] }`),
			service.NewIntField(fieldMaxLineLength).
				Description("The longest line read, in bytes; a longer line fails the file with an error naming the line. Braze's bodies of 100 events stay well under the default.").
				Default(16<<20).
				LintRule(`root = if this < 1 { ["max_line_length must be at least 1"] }`).
				Advanced(),
		).
		Example("A file of Braze bodies", "Map and send archived Custom HTTP bodies.", `
input:
  file:
    paths: [ ./braze-bodies.jsonl ]
    scanner:
      currents_jsonl: {}
pipeline:
  processors:
    - mapping: |
        root = content().currents_to_amplitude()
        root = if root == null { deleted() }
`)
}

func init() {
	service.MustRegisterBatchScannerCreator("currents_jsonl", jsonlScannerSpec(),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchScannerCreator, error) {
			c := &jsonlScannerCreator{}
			var err error
			if c.batchSize, err = conf.FieldInt(fieldBatchSize); err != nil {
				return nil, err
			}
			if c.maxLine, err = conf.FieldInt(fieldMaxLineLength); err != nil {
				return nil, err
			}
			if c.batchSize < 1 || c.maxLine < 1 {
				return nil, fmt.Errorf("%s and %s must be at least 1", fieldBatchSize, fieldMaxLineLength)
			}
			return c, nil
		})
}

type jsonlScannerCreator struct {
	batchSize, maxLine int
}

func (c *jsonlScannerCreator) Create(rdr io.ReadCloser, aFn service.AckFunc, details *service.ScannerSourceDetails) (service.BatchScanner, error) {
	lines := bufio.NewScanner(rdr)
	lines.Buffer(make([]byte, 0, min(c.maxLine, arenaSize)), c.maxLine)
	return service.AutoAggregateBatchScannerAcks(&jsonlScanner{
		creator: c, source: details.Name(), rdr: rdr, lines: lines,
	}, aFn), nil
}

func (c *jsonlScannerCreator) Close(context.Context) error { return nil }

type jsonlScanner struct {
	creator *jsonlScannerCreator
	source  string
	rdr     io.ReadCloser
	lines   *bufio.Scanner
	line    int      // lines read
	done    bool     // lines.Scan has returned false: calling it again would yield a cut line
	arena   []byte   // memory for the next copies; messages keep what they use
	pending [][]byte // events of a body not yet emitted
}

func (s *jsonlScanner) NextBatch(context.Context) (service.MessageBatch, error) {
	batch := make(service.MessageBatch, 0, s.creator.batchSize)
	for len(batch) < s.creator.batchSize {
		if len(s.pending) > 0 {
			n := min(s.creator.batchSize-len(batch), len(s.pending))
			for _, ev := range s.pending[:n] {
				batch = append(batch, service.NewMessage(ev))
			}
			s.pending = s.pending[n:]
			continue
		}
		if s.done = s.done || !s.lines.Scan(); s.done {
			break
		}
		s.line++
		raw := s.lines.Bytes()
		if len(raw) == 0 {
			continue
		}
		line := s.copy(raw)
		if envelope.Is(line) {
			// No limit on the events of a line: max_line_length bounds it.
			if events, err := envelope.Split(line, math.MaxInt); err == nil {
				s.pending = events
				continue
			}
		}
		batch = append(batch, service.NewMessage(line))
	}
	if len(batch) > 0 {
		return batch, nil
	}
	if err := s.lines.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("currents_jsonl: %s: line %d is longer than %s (%d bytes)", s.source, s.line+1, fieldMaxLineLength, s.creator.maxLine)
		}
		return nil, fmt.Errorf("currents_jsonl: %s: line %d: %v", s.source, s.line+1, err)
	}
	return nil, io.EOF
}

// copy returns a copy of line, capped so that appending to it cannot reach
// the next copy.
func (s *jsonlScanner) copy(line []byte) []byte {
	if cap(s.arena)-len(s.arena) < len(line) {
		s.arena = make([]byte, 0, max(arenaSize, len(line)))
	}
	start := len(s.arena)
	s.arena = append(s.arena, line...)
	return s.arena[start:len(s.arena):len(s.arena)]
}

func (s *jsonlScanner) Close(context.Context) error { return s.rdr.Close() }
