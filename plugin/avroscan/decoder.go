package avroscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// decoder reads Avro values from a block's data in memory. Strings and bytes
// are views of the data, not copies: the writers copy them into the output
// as they escape them, and hamba/avro's Reader allocated one string per
// value, the largest cost of the scanner.
//
// The first error stops it: every later read returns a zero value without
// moving, so loops over a corrupt count end.
type decoder struct {
	buf []byte
	pos int
	err error
	// invalidUTF8 says a string of the record mapEvent maps is not UTF-8.
	invalidUTF8 bool
}

var errShortData = errors.New("unexpected end of the block's data")

func (d *decoder) reset(buf []byte) { d.buf, d.pos, d.err = buf, 0, nil }

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// remaining is the number of bytes not read yet.
func (d *decoder) remaining() int { return len(d.buf) - d.pos }

// readLong reads a zig-zag varint, Avro's int and long.
func (d *decoder) readLong() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.pos:])
	switch {
	case n == 0:
		d.fail(errShortData)
		return 0
	case n < 0:
		d.fail(errors.New("long overflows 64 bits"))
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) readInt() int32 {
	v := d.readLong()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail(fmt.Errorf("int %d overflows 32 bits", v))
		return 0
	}
	return int32(v)
}

func (d *decoder) readBool() bool {
	b := d.next(1)
	if b == nil {
		return false
	}
	if b[0] > 1 {
		d.fail(fmt.Errorf("boolean byte %#x is neither 0 nor 1", b[0]))
	}
	return b[0] == 1
}

func (d *decoder) readFloat() float32 {
	b := d.next(4)
	if b == nil {
		return 0
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(b))
}

func (d *decoder) readDouble() float64 {
	b := d.next(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

// readBytes returns a view of the next bytes value, valid as long as the
// block's data.
func (d *decoder) readBytes() []byte {
	n := d.readLong()
	if n < 0 {
		d.fail(fmt.Errorf("negative length %d", n))
		return nil
	}
	if n > int64(d.remaining()) {
		d.fail(errShortData)
		return nil
	}
	return d.next(int(n))
}

// readString is readBytes as a string, sharing its memory.
func (d *decoder) readString() string {
	b := d.readBytes()
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// readBlockCount reads the header of a block of array items or map entries:
// the count, whose negative form is followed by the block's size in bytes.
func (d *decoder) readBlockCount() int64 {
	n := d.readLong()
	if n < 0 {
		n = -n
		d.readLong()
	}
	if n > int64(d.remaining()) {
		// Every item takes at least a byte; a larger count is corrupt.
		d.fail(fmt.Errorf("block of %d items in %d bytes", n, d.remaining()))
		return 0
	}
	return n
}

// next returns a view of the next n bytes, or nil at an error.
func (d *decoder) next(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > d.remaining() {
		d.fail(errShortData)
		return nil
	}
	b := d.buf[d.pos : d.pos+n : d.pos+n]
	d.pos += n
	return b
}
