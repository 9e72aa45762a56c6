package backfill

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// The checkpoint is a text file, appended to: a header line, then one JSON
// line per file whose every event was acknowledged,
//
//	# currents_archive checkpoint v1: one line per finished file
//	{"file":"dataexport.prod-01.S3.integration.5f3e/event_type=users.behaviors.Purchase/date=2024-01-01-00/0+0+0000000000.avro","bytes":48213,"events":100}
//
// A line is written whole with one write and synced before the next, so a
// crash leaves at most a last line cut short, which Load ignores: that file
// is read again.
const CheckpointHeader = "# currents_archive checkpoint v1: one line per finished file\n"

// Finished is one line of the checkpoint.
type Finished struct {
	File   string `json:"file"`  // File.Path
	Bytes  int64  `json:"bytes"` // its size when it was read
	Events int64  `json:"events"`
}

// Line is the checkpoint line of f, newline included.
func (f Finished) Line() []byte {
	b, _ := json.Marshal(f) // strings and integers always marshal
	return append(b, '\n')
}

// Checkpoint is what a checkpoint file holds: the finished files by path.
type Checkpoint map[string]Finished

// Done reports whether f was finished as it is now: a file of another size
// has changed since, and is read again.
func (c Checkpoint) Done(f File) (Finished, bool) {
	e, ok := c[f.Path]
	return e, ok && e.Bytes == f.Size
}

// LoadCheckpoint reads a checkpoint, and returns the length of its whole
// lines, where the next line must be written. An empty input is an empty
// checkpoint; a last line without its newline was cut short by a crash and
// is ignored. Any other line that is not a finished file is an error naming
// the line: the file is not a checkpoint, and appending to it would damage it.
func LoadCheckpoint(r io.Reader) (c Checkpoint, whole int64, err error) {
	c = Checkpoint{}
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return c, whole, nil // a line without a newline, if any, is torn
		} else if err != nil {
			return nil, 0, err
		}
		whole += int64(len(line))
		if n == 1 {
			if string(line) != CheckpointHeader {
				return nil, 0, fmt.Errorf("line 1: not a currents_archive checkpoint (want the header %q)", bytes.TrimSpace([]byte(CheckpointHeader)))
			}
			continue
		}
		var f Finished
		d := json.NewDecoder(bytes.NewReader(line))
		d.DisallowUnknownFields()
		if err := d.Decode(&f); err != nil || f.File == "" {
			return nil, 0, fmt.Errorf("line %d: not a finished file: %q", n, bytes.TrimSpace(line))
		}
		c[f.File] = f
	}
}
