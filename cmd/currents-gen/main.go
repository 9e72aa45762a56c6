// Command currents-gen writes realistic Braze Currents events as JSON lines:
// one event per line, or one Custom HTTP connector body {"events":[...]}
// per line with -envelope.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
)

func main() {
	cfg := currentsgen.DefaultConfig()
	n := flag.Int("n", 10_000, "number of events")
	envelope := flag.Int("envelope", 0, "wrap events in Braze bodies of this many events (0: one event per line)")
	out := flag.String("o", "-", "output file (- for stdout)")
	cfg.RegisterFlags(flag.CommandLine)
	flag.Parse()

	if err := run(cfg, *n, *envelope, *out); err != nil {
		fmt.Fprintln(os.Stderr, "currents-gen:", err)
		os.Exit(1)
	}
}

func run(cfg currentsgen.Config, n, envelope int, path string) error {
	g, err := currentsgen.New(cfg)
	if err != nil {
		return err
	}
	var w io.Writer = os.Stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	buf := make([]byte, 0, 1<<16)
	for i := 0; i < n; i++ {
		first, last := envelope > 0 && i%envelope == 0, envelope > 0 && (i%envelope == envelope-1 || i == n-1)
		switch {
		case first:
			buf = append(buf, `{"events":[`...)
		case envelope > 0:
			buf = append(buf, ',')
		}
		buf = g.Next(buf)
		if last {
			buf = append(buf, `]}`...)
		}
		if envelope == 0 || last {
			buf = append(buf, '\n')
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return bw.Flush()
}
