// Command amplitude-emulator serves a local stand-in for Amplitude's HTTP V2
// (/2/httpapi) and Batch (/batch) event APIs, with Amplitude's checks, limits and
// answers, plus injected faults. See -help.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/connect-amplitude/connect-amplitude/emulator"
	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"
)

const (
	defaultAddr = ampapi.EmulatorAddr
	apiKeysEnv  = "AMPLITUDE_EMULATOR_API_KEYS"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal kills at once, even during shutdown
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "amplitude-emulator:", err)
		os.Exit(1)
	}
}

// errUsage is a bad command line; the flag package has already said why.
var errUsage = errors.New("usage")

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

	err = serve(ctx, recorder)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, srv.Shutdown(shutdownCtx))
	if recorder != nil {
		err = errors.Join(err, recorder.Flush(), closeRecord())
	}
	final, _ := json.MarshalIndent(srv.Stats(), "", "  ") // maps, numbers, strings: cannot fail
	fmt.Fprintf(stderr, "amplitude-emulator stopped; final stats:\n%s\n", final)
	return err
}

// serve waits for ctx, flushing recorded events every second so that a file being
// followed stays current; a write error (disk full) stops the emulator.
func serve(ctx context.Context, recorder *emulator.JSONLinesRecorder) error {
	if recorder == nil {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := recorder.Flush(); err != nil {
				return fmt.Errorf("recording events: %w", err)
			}
		}
	}
}

type options struct {
	addr   string
	record string
	cfg    emulator.Config
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var (
		o                           options
		c                           = &o.cfg
		f                           = &c.Faults
		apiKeys, errorCodes, silent string
		rejectAfter, rejectFor      time.Duration
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

	fs.Int64Var(&f.Seed, "seed", 1, "seed of the fault draws, to repeat a run")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "share of requests (0-1) answered with one of -error-codes")
	fs.StringVar(&errorCodes, "error-codes", "500,502,503,504", "comma-separated 5xx `codes` -error-rate picks from")
	fs.BoolVar(&f.IngestBeforeError, "ingest-before-error", false, "500/502/504 ingest the events first (\"maybe accepted\"); 503 never does")
	fs.Float64Var(&f.SlowRate, "slow-rate", 0, "share of requests (0-1) delayed by -slow-delay")
	fs.DurationVar(&f.SlowDelay, "slow-delay", 5*time.Second, "delay of a slow request")
	fs.Float64Var(&f.ResetRate, "reset-rate", 0, "share of requests (0-1) whose connection is reset without an answer")
	fs.DurationVar(&rejectAfter, "reject-key-after", 0, "from this long after start, answer every key \"Invalid API key\"")
	fs.DurationVar(&rejectFor, "reject-key-for", 0, "for this long (0: until stopped); either flag starts the window")
	fs.StringVar(&silent, "silence", "", "comma-separated `device_ids` answered as silenced")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n", fs.Args())
		fs.Usage()
		return o, errUsage
	}
	if apiKeys == "" {
		apiKeys = os.Getenv(apiKeysEnv)
	}
	c.APIKeys = splitList(apiKeys)
	f.SilencedDevices = splitList(silent)
	for _, s := range splitList(errorCodes) {
		code, err := strconv.Atoi(s)
		if err != nil || code < 500 || code > 599 {
			fmt.Fprintf(stderr, "-error-codes: %q is not a 5xx status code\n", s)
			return o, errUsage
		}
		f.ErrorCodes = append(f.ErrorCodes, code)
	}
	if rejectAfter > 0 || rejectFor > 0 {
		f.RejectKeyFrom = time.Now().Add(rejectAfter)
		if rejectFor > 0 {
			f.RejectKeyUntil = f.RejectKeyFrom.Add(rejectFor)
		}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
