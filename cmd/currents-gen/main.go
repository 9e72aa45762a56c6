// Command currents-gen writes realistic Braze Currents events as JSON lines:
// one event per line, or one Custom HTTP connector body {"events":[...]}
// per line with -envelope. With -avro DIR it writes the same events (the
// same flags give the same events) as an archive of Braze's Avro storage
// export under DIR, and with -manifest the events of each file.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hamba/avro/v2/ocf"

	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
)

func main() {
	cfg := currentsgen.DefaultConfig()
	n := flag.Int("n", 10_000, "number of events")
	envelope := flag.Int("envelope", 0, "wrap events in Braze bodies of this many events (0: one event per line)")
	out := flag.String("o", "-", "output file (- for stdout)")
	avroDir := flag.String("avro", "", "write the events as an archive of Braze's Avro storage export under this directory, instead of JSON lines")
	archive := currentsgen.DefaultArchiveConfig("")
	flag.IntVar(&archive.RecordsPerFile, "records-per-file", archive.RecordsPerFile, "with -avro: records per file at most (a file also ends at the hour)")
	flag.IntVar(&archive.BlockLength, "block-length", archive.BlockLength, "with -avro: records per Avro block")
	codec := flag.String("codec", string(archive.Codec), "with -avro: null, deflate or snappy")
	manifest := flag.String("manifest", "", "with -avro: write each file's path and the numbers of its events here, one line per file")
	cfg.RegisterFlags(flag.CommandLine)
	flag.Parse()

	var err error
	if *avroDir != "" {
		archive.Root, archive.Codec = *avroDir, ocf.CodecName(*codec)
		err = writeArchive(cfg, *n, archive, *manifest)
	} else {
		err = run(cfg, *n, *envelope, *out)
	}
	if err != nil {
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

func writeArchive(cfg currentsgen.Config, n int, archive currentsgen.ArchiveConfig, manifest string) error {
	switch archive.Codec {
	case ocf.Null, ocf.Deflate, ocf.Snappy:
	default:
		return fmt.Errorf("codec: %q is not one of null, deflate, snappy", archive.Codec)
	}
	g, err := currentsgen.New(cfg)
	if err != nil {
		return err
	}
	files, err := g.WriteArchive(n, archive)
	if err != nil {
		return err
	}
	if manifest == "" {
		return nil
	}
	f, err := os.Create(manifest)
	if err != nil {
		return err
	}
	if err := currentsgen.WriteManifest(f, files); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
