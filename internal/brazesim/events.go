// Package brazesim behaves like Braze's Custom HTTP Currents connector, for
// end-to-end tests and load measurements of a receiver: it posts events in
// envelopes of up to 100 with a bearer token, retries 5xx, 429, timeouts and
// connection errors with jittered exponential backoff, splits a batch on 400
// (to single events) and 413 (in halves), and reports what was acknowledged
// and how fast. The events come from currentsgen or from a file.
package brazesim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// ReadEvents reads one event per line (for example currents-gen's output);
// blank lines are skipped, and each line must be JSON.
func ReadEvents(r io.Reader) ([][]byte, error) {
	var out [][]byte
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 2<<20) // Braze's events stay under 900 KB
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return nil, fmt.Errorf("line %d is not JSON", n)
		}
		out = append(out, bytes.Clone(line))
	}
	return out, sc.Err()
}
