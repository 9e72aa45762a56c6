// Command amplitude-emulator serves a local stand-in for Amplitude's HTTP V2
// (/2/httpapi) and Batch (/batch) event APIs, with Amplitude's checks, limits and
// answers, plus injected faults. See -help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
	"github.com/connect-amplitude/connect-amplitude/internal/cmdutil"
)

const (
	defaultAddr = ampapi.EmulatorAddr
	apiKeysEnv  = "AMPLITUDE_EMULATOR_API_KEYS"
)

func main() {
	cmdutil.Main("amplitude-emulator", func(ctx context.Context) error {
		return run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	}, nil)
}

// run serves until ctx ends, then prints the final statistics to stderr (stdout may
// carry the recorded events). started, if not nil, receives the base URL once the
// server listens.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, started func(url string)) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg := opts.cfg
	var recorder *emulator.JSONLinesRecorder
	closeRecord := func() error { return nil }
	switch opts.record {
	case "":
		cfg.Recorder = emulator.Discard // count events, keep none: memory stays flat
	case "-":
		recorder = emulator.NewJSONLinesRecorder(stdout)
	default:
		f, err := os.Create(opts.record)
		if err != nil {
			return err
		}
		recorder, closeRecord = emulator.NewJSONLinesRecorder(f), f.Close
	}
	if recorder != nil {
		cfg.Recorder = recorder
	}

	srv, err := emulator.Listen(opts.addr, cfg)
	if err != nil {
		return errors.Join(err, closeRecord())
	}
	// To stderr, so that "-record -" leaves stdout to the events.
	fmt.Fprintf(stderr, "amplitude-emulator listening on %s (POST /2/httpapi, POST /batch, GET /stats)\n", srv.URL)
	if started != nil {
		started(srv.URL)
	}

	life := cmdutil.Emulator{Name: "amplitude-emulator", Shutdown: srv.Shutdown, Close: closeRecord, Stats: func() any { return srv.Stats() }}
	if recorder != nil {
		life.Flush = recorder.Flush
		life.Close = func() error { return errors.Join(recorder.Flush(), closeRecord()) }
	}
	return cmdutil.Serve(ctx, life, stderr)
}

type options struct {
	addr   string
	record string
	cfg    emulator.Config
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var (
		o                      options
		c                      = &o.cfg
		f                      = &c.Faults
		faults                 cmdutil.FaultFlags
		apiKeys, silent        string
		rejectAfter, rejectFor time.Duration
	)
	fs := flag.NewFlagSet("amplitude-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: amplitude-emulator [flags]

A local Amplitude HTTP API: POST /2/httpapi (HTTP V2), POST /batch (Batch) and
GET /stats. It checks requests, limits ids and answers as Amplitude does,
deduplicates insert_ids, and can inject faults. It listens on %s by
default (loopback only). SIGINT or SIGTERM stops it; it then prints its final
statistics to stderr.

Accepted API keys come from -api-keys or, better (command lines are visible to
other users), the %s environment variable; without either,
any non-empty key is accepted.

Flags:
`, defaultAddr, apiKeysEnv)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.addr, "addr", defaultAddr, "`host:port` to listen on")
	fs.StringVar(&o.record, "record", "", "write each accepted event as a JSON line to `path` (\"-\": stdout); default: count only")
	fs.StringVar(&apiKeys, "api-keys", "", "comma-separated accepted API `keys` (default $"+apiKeysEnv+", else any non-empty key)")

	v2, batch := ampapi.HTTPV2.Limits(), ampapi.Batch.Limits()
	fs.Float64Var(&c.HTTPV2EPS, "httpv2-eps", v2.EventsPerSecond, "HTTP V2 events per second allowed per device_id and per user_id")
	fs.DurationVar(&c.HTTPV2Window, "httpv2-window", v2.RateWindow, "window the HTTP V2 rate is averaged over")
	fs.Float64Var(&c.BatchEPS, "batch-eps", batch.EventsPerSecond, "Batch events per second allowed per device_id and per user_id")
	fs.DurationVar(&c.BatchWindow, "batch-window", batch.RateWindow, "window the Batch rate is averaged over")
	fs.IntVar(&c.DailyQuota, "daily-quota", v2.DailyQuota, "events per id per rolling 24 h; -1 disables")
	fs.BoolVar(&c.DisableRateLimits, "no-rate-limits", false, "turn off the eps limits and the daily quota")
	fs.IntVar(&c.MaxEventsPerRequest, "max-events", v2.MaxEvents, "most events in one request, else 413")
	fs.IntVar(&c.MaxHTTPV2Bytes, "max-httpv2-bytes", v2.MaxBytes, "largest HTTP V2 body, decompressed, else 413")
	fs.IntVar(&c.MaxBatchBytes, "max-batch-bytes", batch.MaxBytes, "largest Batch body, decompressed, else 413")
	fs.DurationVar(&c.DedupWindow, "dedup-window", ampapi.DedupWindow, "how long an insert_id is remembered")

	faults.Register(fs, "nothing ingested unless -ingest-before-error")
	fs.BoolVar(&f.IngestBeforeError, "ingest-before-error", false, "500/502/504 ingest the events first (\"maybe accepted\"); 503 never does")
	fs.DurationVar(&rejectAfter, "reject-key-after", 0, "from this long after start, answer every key \"Invalid API key\"")
	fs.DurationVar(&rejectFor, "reject-key-for", 0, "for this long (0: until stopped); either flag starts the window")
	fs.StringVar(&silent, "silence", "", "comma-separated `device_ids` answered as silenced")

	if err := cmdutil.Parse(fs, args); err != nil {
		return o, err
	}
	if err := faults.Check(fs); err != nil {
		return o, err
	}
	f.Seed, f.ErrorRate, f.ErrorCodes = faults.Seed, faults.ErrorRate, faults.ErrorCodes
	f.SlowRate, f.SlowDelay, f.ResetRate = faults.SlowRate, faults.SlowDelay, faults.ResetRate
	if apiKeys == "" {
		apiKeys = os.Getenv(apiKeysEnv)
	}
	c.APIKeys = cmdutil.SplitList(apiKeys)
	f.SilencedDevices = cmdutil.SplitList(silent)
	if rejectAfter > 0 || rejectFor > 0 {
		f.RejectKeyFrom = time.Now().Add(rejectAfter)
		if rejectFor > 0 {
			f.RejectKeyUntil = f.RejectKeyFrom.Add(rejectFor)
		}
	}
	return o, nil
}
