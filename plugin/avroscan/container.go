package avroscan

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
)

// container reads an Avro object container file block by block.
//
// hamba/avro's ocf.Decoder hides block boundaries and trusts the block
// header: a negative block size panics (makeslice), a huge one is allocated
// before a byte is read, and a block holding more records than its count
// says ends the file early without an error, losing records silently. The
// framing here is the few lines of the spec that matter for those cases; the
// header, the codecs and every value are still decoded by hamba/avro.
type container struct {
	r      *avro.Reader
	schema avro.Schema
	codec  ocf.Codec
	sync   [16]byte
	block  int // number of the last block read, from 1
	buf    []byte
}

// Blocks are read in steps of this size so that a corrupt size in a block
// header costs no more memory than the bytes actually present.
const readStep = 1 << 20

var (
	magic            = [4]byte{'O', 'b', 'j', 1}
	headerMetaSchema = avro.MustParse(`{"type": "map", "values": "bytes"}`)
)

func openContainer(rd io.Reader) (*container, error) {
	r := avro.NewReader(rd, 64*1024)
	// The magic bytes are checked on their own first, so that a file that is
	// not Avro at all gets an error saying so.
	var m [4]byte
	if r.Read(m[:]); r.Error != nil || m != magic {
		return nil, errors.New("not an Avro object container file (no Obj\\x01 magic bytes)")
	}
	var meta map[string][]byte
	r.ReadVal(headerMetaSchema, &meta)
	c := &container{r: r}
	r.Read(c.sync[:])
	if r.Error != nil {
		return nil, fmt.Errorf("reading Avro header: %v", r.Error)
	}
	// A private cache per file: exports of different dates reuse record names
	// for different versions of a schema.
	var err error
	if c.schema, err = avro.ParseBytesWithCache(meta["avro.schema"], "", &avro.SchemaCache{}); err != nil {
		return nil, fmt.Errorf("parsing writer schema: %w", err)
	}
	switch name := ocf.CodecName(meta["avro.codec"]); name {
	case "", ocf.Null:
		c.codec = &ocf.NullCodec{}
	case ocf.Deflate:
		c.codec = &ocf.DeflateCodec{}
	case ocf.Snappy:
		c.codec = &ocf.SnappyCodec{}
	default:
		return nil, fmt.Errorf("unsupported Avro codec %q (null, deflate and snappy are supported)", name)
	}
	return c, nil
}

// next reads the next block and returns its record count and decompressed
// data, valid until the following call. It returns io.EOF only at a block
// boundary; a file that ends anywhere else is truncated.
func (c *container) next() (count int64, data []byte, err error) {
	if c.r.Peek(); errors.Is(c.r.Error, io.EOF) {
		return 0, nil, io.EOF
	}
	c.block++
	count = c.r.ReadLong()
	size := c.r.ReadLong()
	if c.r.Error != nil {
		return 0, nil, fmt.Errorf("reading block header: %w", c.r.Error)
	}
	if count < 0 || size < 0 {
		return 0, nil, fmt.Errorf("corrupt block header: %d records in %d bytes", count, size)
	}
	c.buf = c.buf[:0]
	for remaining := size; remaining > 0; {
		step := int(min(remaining, readStep))
		c.buf = slices.Grow(c.buf, step)
		chunk := c.buf[len(c.buf) : len(c.buf)+step]
		c.r.Read(chunk)
		if c.r.Error != nil {
			return 0, nil, fmt.Errorf("reading %d bytes of block data: %w", size, c.r.Error)
		}
		c.buf = c.buf[:len(c.buf)+step]
		remaining -= int64(step)
	}
	var sync [16]byte
	if c.r.Read(sync[:]); c.r.Error != nil {
		return 0, nil, fmt.Errorf("reading sync marker: %w", c.r.Error)
	}
	if sync != c.sync {
		return 0, nil, errors.New("sync marker does not match the file header: the file is corrupt")
	}
	if data, err = c.codec.Decode(c.buf); err != nil {
		return 0, nil, fmt.Errorf("decompressing block: %w", err)
	}
	return count, data, nil
}
