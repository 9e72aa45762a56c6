// Command braze-sim behaves like Braze's Custom HTTP Currents connector: it
// posts Currents events to a receiver in envelopes of up to 100, retries and
// splits as Braze does, and reports what was acknowledged, the request
// latency and the throughput. See -help.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/connect-amplitude/connect-amplitude/internal/brazesim"
	"github.com/connect-amplitude/connect-amplitude/internal/cmdutil"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsgen"
)

const tokenEnv = "BRAZE_BEARER_TOKEN"

func main() {
	cmdutil.Main("braze-sim", func(ctx context.Context) error {
		return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	}, map[error]int{errUndelivered: 3})
}

// errUndelivered is reported by the exit status, 3.
var errUndelivered = errors.New("some events were not acknowledged")

type options struct {
	cfg      brazesim.Config
	gen      currentsgen.Config
	n        int
	in       string
	token    string
	outcomes string
	format   string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{cfg: brazesim.DefaultConfig(), gen: generated()}
	c := &o.cfg
	var tokenFile string
	fs := flag.NewFlagSet("braze-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: braze-sim -url URL [-in FILE] [flags]

Posts Braze Currents events to URL as Braze's Custom HTTP connector does:
envelopes {"events":[...]} of up to -batch events with the headers
Braze-Currents-Version: 1 and Authorization: Bearer <token>. 5xx, 429,
timeouts and connection errors are retried with jittered exponential backoff;
a 400 splits a batch into single events and a 413 into halves; a single event
still refused is counted as rejected, as Braze drops it.

The token comes from $%s or -token-file (never from the command line,
which other users can see). The events are generated as currents-gen does,
from the Custom HTTP sample events compiled in, with fresh ids, users and times
(-n and the flags currents-gen shares: -seed, -users, -anonymous, ...; the
event types without any user id are sent too, as Braze does), or read as JSON
lines with -in: your own events, or currents-gen's output.

The report goes to stdout (-format json or table). The exit status is 3 when
some events were not acknowledged.

Flags:
`, tokenEnv)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.URL, "url", "", "the receiver's URL")
	fs.StringVar(&tokenFile, "token-file", "", "file holding the bearer token (default $"+tokenEnv+")")
	fs.StringVar(&o.in, "in", "", "file of events to send instead of generated ones, one JSON object per line (- for stdin)")
	fs.IntVar(&o.n, "n", 10_000, "events to generate")
	o.gen.RegisterFlags(fs)
	fs.IntVar(&c.BatchSize, "batch", c.BatchSize, "events per request")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "requests at once")
	fs.DurationVar(&c.RequestTimeout, "timeout", c.RequestTimeout, "request timeout")
	fs.DurationVar(&c.Backoff, "backoff", c.Backoff, "first wait before a retry; waits double up to -max-backoff, with jitter")
	fs.DurationVar(&c.MaxBackoff, "max-backoff", c.MaxBackoff, "longest wait before a retry")
	fs.DurationVar(&c.GiveUpAfter, "give-up", c.GiveUpAfter, "a batch still failing this long after its first try is given up")
	fs.StringVar(&o.outcomes, "outcomes", "", "write each event's outcome as a JSON line {index,id,status,reason} to this file")
	fs.StringVar(&o.format, "format", "json", "report format: json or table")
	if err := cmdutil.Parse(fs, args); err != nil {
		return o, err
	}
	usage := func(msg string) (options, error) { return o, cmdutil.Usage(fs, msg) }
	switch {
	case c.URL == "":
		return usage("-url is required")
	case o.n < 0:
		return usage("-n must not be negative")
	case o.format != "json" && o.format != "table":
		return usage("-format must be json or table")
	}
	if err := o.gen.Validate(); err != nil {
		return usage("-" + err.Error())
	}
	o.token = os.Getenv(tokenEnv)
	if tokenFile != "" {
		data, err := os.ReadFile(tokenFile)
		if err != nil {
			return o, err
		}
		o.token = strings.TrimSpace(string(data))
	}
	c.Token = o.token
	return o, nil
}

// generated is the traffic braze-sim makes by default: 10,000 users, events
// from now on, no hot devices, and every event type Braze sends.
func generated() currentsgen.Config {
	g := currentsgen.DefaultConfig()
	g.Users, g.HotDevices, g.StartTime, g.Userless = 10_000, 0, time.Now().Unix(), true
	return g
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	events, err := loadEvents(o, stdin)
	if err != nil {
		return err
	}
	report, outcomes := brazesim.Send(ctx, o.cfg, events)
	if o.outcomes != "" {
		if err := writeOutcomes(o.outcomes, outcomes); err != nil {
			return err
		}
	}
	if o.format == "table" {
		err = report.WriteTable(stdout)
	} else {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	}
	if err != nil {
		return err
	}
	if report.Acked != report.Events {
		return errUndelivered
	}
	return nil
}

func loadEvents(o options, stdin io.Reader) ([][]byte, error) {
	if o.in == "" {
		g, err := currentsgen.New(o.gen)
		if err != nil {
			return nil, err
		}
		return g.Events(o.n), nil
	}
	if o.in == "-" {
		return brazesim.ReadEvents(stdin)
	}
	f, err := os.Open(o.in)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return brazesim.ReadEvents(f)
}

func writeOutcomes(path string, outcomes []brazesim.Outcome) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, o := range outcomes {
		if err := enc.Encode(o); err != nil {
			f.Close()
			return err
		}
	}
	return errors.Join(w.Flush(), f.Close())
}
