package emulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
)

// A Recorder receives the events the emulator ingests: one call per accepted request,
// in arrival order, without the duplicates. Record runs under the emulator's lock, so
// it must be quick. The events' strings and Raw point into a request buffer that is
// reused once Record returns: copy what you keep.
type Recorder interface {
	Record(events []Event)
}

// Discard is a Recorder that keeps nothing, for runs where only Stats matter.
var Discard Recorder = discard{}

type discard struct{}

func (discard) Record([]Event) {}

// memoryRecorder keeps every event, for Emulator.Events.
type memoryRecorder struct {
	mu  sync.Mutex
	all []Event
}

func (m *memoryRecorder) Record(events []Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range events {
		// Cloned so a kept event pins neither the pooled buffer nor the whole body.
		m.all = append(m.all, Event{
			InsertID:  strings.Clone(ev.InsertID),
			DeviceID:  strings.Clone(ev.DeviceID),
			UserID:    strings.Clone(ev.UserID),
			EventType: strings.Clone(ev.EventType),
			Time:      ev.Time,
			Raw:       bytes.Clone(ev.Raw),
		})
	}
}

func (m *memoryRecorder) events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.all)
}

func (m *memoryRecorder) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.all = nil
}

// JSONLinesRecorder writes each event, exactly as the client sent it, as one line of
// JSON. It buffers its writes: call Flush to push them out, and check the error it
// returns (the first write error, which stops all later writes).
type JSONLinesRecorder struct {
	mu      sync.Mutex
	w       *bufio.Writer
	compact bytes.Buffer
}

// NewJSONLinesRecorder returns a recorder writing to w.
func NewJSONLinesRecorder(w io.Writer) *JSONLinesRecorder {
	return &JSONLinesRecorder{w: bufio.NewWriterSize(w, 1<<20)}
}

func (r *JSONLinesRecorder) Record(events []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range events {
		line := ev.Raw
		if bytes.IndexByte(line, '\n') >= 0 {
			// A pretty-printed event would span lines; the body was valid JSON, so
			// Compact cannot fail.
			r.compact.Reset()
			_ = json.Compact(&r.compact, line)
			line = r.compact.Bytes()
		}
		r.w.Write(line) // errors are sticky: Flush reports them
		r.w.WriteByte('\n')
	}
}

// Flush writes out the buffered lines.
func (r *JSONLinesRecorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.Flush()
}
