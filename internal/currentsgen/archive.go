package currentsgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hamba/avro/v2/ocf"
)

// ArchiveConfig lays out the events of WriteArchive as Braze's storage
// export does:
//
//	<Root>/<Integration>/event_type=<type>/date=<YYYY-MM-DD-HH>/version=10/prod/<type>+0+<offset>.avro
type ArchiveConfig struct {
	Root        string
	Integration string // dataexport.<cluster>.S3.integration.<id>
	// RecordsPerFile ends a file after this many records; a file also ends
	// where its type's events reach the next hour.
	RecordsPerFile int
	Codec          ocf.CodecName
	BlockLength    int // records per Avro block
}

// DefaultArchiveConfig writes files of up to 10,000 records, in blocks of
// 1,000, without compression, as Braze's sample files have none.
func DefaultArchiveConfig(root string) ArchiveConfig {
	return ArchiveConfig{Root: root, Integration: "dataexport.prod-01.S3.integration.5f3e", RecordsPerFile: 10_000, Codec: ocf.Null, BlockLength: 1000}
}

// ArchiveFile is a file WriteArchive wrote and the numbers of its events
// (see EventNumber).
type ArchiveFile struct {
	Path   string // relative to Root, slash-separated
	Events []uint64
}

// WriteArchive writes the next n events as Avro files, one event type and
// hour per file, and returns the files in the order they were started.
func (g *Generator) WriteArchive(n int, cfg ArchiveConfig) ([]ArchiveFile, error) {
	if cfg.RecordsPerFile < 1 || cfg.BlockLength < 1 {
		return nil, errors.New("currentsgen: records per file and block length must be at least 1")
	}
	types := g.AvroTypes()
	type open struct {
		file  *os.File
		buf   *bufio.Writer
		enc   *ocf.Encoder
		index int // into files
		hour  int64
		count int
	}
	current := make([]*open, len(types))
	offsets := make([]int, len(types))
	var files []ArchiveFile
	var errs []error
	closeFile := func(o *open) {
		errs = append(errs, o.enc.Close(), o.buf.Flush(), o.file.Close())
	}
	var rec []byte
	for range n {
		start := g.n
		var r Record
		rec, r = g.NextRecord(rec[:0])
		hour := r.Time / 3600
		o := current[r.Type]
		if o != nil && (o.count == cfg.RecordsPerFile || o.hour != hour) {
			closeFile(o)
			o = nil
		}
		if o == nil {
			et := types[r.Type].EventType
			rel := fmt.Sprintf("%s/event_type=%s/date=%s/version=10/prod/%s+0+%010d.avro", cfg.Integration, et,
				time.Unix(hour*3600, 0).UTC().Format("2006-01-02-15"), et, offsets[r.Type])
			path := filepath.Join(cfg.Root, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, err
			}
			f, err := os.Create(path)
			if err != nil {
				return nil, err
			}
			o = &open{file: f, buf: bufio.NewWriterSize(f, 1<<16), index: len(files), hour: hour}
			if o.enc, err = ocf.NewEncoderWithSchema(types[r.Type].Schema, o.buf, ocf.WithCodec(cfg.Codec), ocf.WithBlockLength(cfg.BlockLength)); err != nil {
				f.Close()
				return nil, err
			}
			current[r.Type] = o
			files = append(files, ArchiveFile{Path: rel})
		}
		if _, err := o.enc.Write(rec); err != nil {
			return nil, err
		}
		o.count++
		offsets[r.Type]++
		files[o.index].Events = append(files[o.index].Events, start)
	}
	for _, o := range current {
		if o != nil {
			closeFile(o)
		}
	}
	return files, errors.Join(errs...)
}

// WriteManifest writes one line per file: its path, then the numbers of its
// events, space-separated.
func WriteManifest(w io.Writer, files []ArchiveFile) error {
	bw := bufio.NewWriter(w)
	var line []byte
	for _, f := range files {
		line = append(line[:0], f.Path...)
		for _, e := range f.Events {
			line = strconv.AppendUint(append(line, ' '), e, 10)
		}
		bw.Write(append(line, '\n'))
	}
	return bw.Flush()
}

// ReadManifest reads what WriteManifest wrote.
func ReadManifest(r io.Reader) ([]ArchiveFile, error) {
	var files []ArchiveFile
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var f ArchiveFile
		for i, field := range bytes.Fields(line) {
			if i == 0 {
				f.Path = string(field)
				continue
			}
			e, err := strconv.ParseUint(string(field), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("manifest line %d: %w", len(files)+1, err)
			}
			f.Events = append(f.Events, e)
		}
		files = append(files, f)
	}
	return files, sc.Err()
}
