package currentsmap

import (
	"sync"
	"unsafe"

	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
)

// Mapped events are cut from shared chunks rather than each mapped into a
// scratch buffer and copied out to an allocation of its own: one allocation
// then serves a dozen or more events, and nothing is copied. A chunk lives
// while any of its events does, so chunks are kept small: a pipeline that
// keeps one event in many (in a cache, say) pins at most chunkSize per event.
const (
	chunkSize  = 16 << 10
	chunkSlack = 256 // room beyond the event's size: an output is rarely larger than its event
)

var chunks = sync.Pool{New: func() any { return new([]byte) }}

// GetChunk takes a chunk for MapIntoChunk from the pool; PutChunk gives it
// back once no more events are to be cut from it (its events stay valid).
func GetChunk() *[]byte { return chunks.Get().(*[]byte) }

// PutChunk returns a chunk GetChunk gave.
func PutChunk(chunk *[]byte) { chunks.Put(chunk) }

// MapOwned maps an event into the free end of a pooled chunk, as
// MapIntoChunk does; the result is the caller's.
func (m *Mapper) MapOwned(event string) ([]byte, error) {
	chunk := GetChunk()
	defer PutChunk(chunk)
	return m.MapIntoChunk(chunk, event, nil)
}

// MapIntoChunk maps an event into the free end of chunk and returns that
// part, capped so that appending to it cannot reach the next event: the
// message owns it from then on. written is as in mapString.
func (m *Mapper) MapIntoChunk(chunk *[]byte, event string, written *ampapi.Fields) ([]byte, error) {
	if cap(*chunk)-len(*chunk) < len(event)+chunkSlack {
		*chunk = make([]byte, 0, max(chunkSize, 2*len(event)+chunkSlack))
	}
	free := (*chunk)[len(*chunk):]
	out, err := m.mapString(free, event, written)
	if err != nil {
		return nil, err
	}
	return Claim(chunk, free, out), nil
}

// Claim takes out, written at free, the free end of chunk, out of the free
// end, capped so that appending to it cannot reach the next event: the
// message owns it from then on. An output that outgrew the free end is in
// an array of its own, and the free end stays free.
func Claim(chunk *[]byte, free, out []byte) []byte {
	if unsafe.SliceData(out) == unsafe.SliceData(free) {
		*chunk = (*chunk)[:len(*chunk)+len(out)]
	}
	return out[:len(out):len(out)]
}
