// Command braze-emulator serves a local stand-in for Braze's POST
// /users/track, with Braze's checks, limits and answers, plus injected
// faults. See -help.
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
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/connect-amplitude/connect-amplitude/emulator/braze"
	"github.com/connect-amplitude/connect-amplitude/internal/brazeapi"
)

const apiKeysEnv = "BRAZE_EMULATOR_API_KEYS"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal kills at once
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "braze-emulator:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run serves until ctx ends, then prints the final statistics to stderr.
// started, if not nil, receives the base URL once the server listens.
func run(ctx context.Context, args []string, stderr io.Writer, started func(url string)) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var rec *recorder
	if o.record != "" {
		f, err := os.Create(o.record)
		if err != nil {
			return err
		}
		rec = &recorder{f: f, w: bufio.NewWriter(f)}
		o.cfg.Record = rec.record
	}
	srv, err := braze.Listen(o.addr, o.cfg)
	if err != nil {
		return errors.Join(err, rec.close())
	}
	fmt.Fprintf(stderr, "braze-emulator listening on %s (POST /users/track, GET /_emulator/users, GET /_emulator/stats)\n", srv.URL)
	if started != nil {
		started(srv.URL)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			if err := rec.flush(); err != nil {
				err = fmt.Errorf("recording: %w", err)
				return errors.Join(err, srv.Shutdown(context.Background()), rec.close())
			}
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(srv.Shutdown(shutdownCtx), rec.close())
	final, _ := json.MarshalIndent(srv.Stats(), "", "  ") // maps and numbers: cannot fail
	fmt.Fprintf(stderr, "braze-emulator stopped; final stats:\n%s\n", final)
	return err
}

// recorder writes each applied change as a JSON line.
type recorder struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	err error
}

func (r *recorder) record(op braze.Op) {
	line, _ := json.Marshal(op) // strings and JSON values: cannot fail
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		_, r.err = r.w.Write(append(line, '\n'))
	}
}

func (r *recorder) flush() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = r.w.Flush()
	}
	return r.err
}

func (r *recorder) close() error {
	if r == nil {
		return nil
	}
	return errors.Join(r.flush(), r.f.Close())
}

type options struct {
	addr   string
	record string
	cfg    braze.Config
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var (
		o                                  options
		c                                  = &o.cfg
		f                                  = &c.Faults
		keys, noPerm, blocked, codes, alia string
	)
	fs := flag.NewFlagSet("braze-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: braze-emulator [flags]

A local Braze REST instance for POST /users/track: Braze's checks, limits,
rate-limit headers and answers, in-memory user profiles, and injected
faults. GET /_emulator/users serves the profiles, GET /_emulator/stats the
counters. It listens on %s by default (loopback only). SIGINT or SIGTERM
stops it; it then prints its final statistics.

Accepted REST API keys come from -api-keys or, better (command lines are
visible to other users), the %s environment variable; without
either, any non-empty key is accepted.

Flags:
`, braze.DefaultAddr, apiKeysEnv)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.addr, "addr", braze.DefaultAddr, "`host:port` to listen on")
	fs.StringVar(&o.record, "record", "", "write each change applied to a profile as a JSON line to `path`")
	fs.StringVar(&keys, "api-keys", "", "comma-separated accepted REST API `keys` (default $"+apiKeysEnv+", else any non-empty key)")
	fs.StringVar(&noPerm, "keys-without-permission", "", "comma-separated `keys` answered 403 (no users.track permission)")
	fs.IntVar(&c.RateLimit, "rate-limit", brazeapi.RequestsPerWindow, "requests allowed per -rate-window, else 429")
	fs.DurationVar(&c.RateWindow, "rate-window", brazeapi.RateWindow, "the fixed rate-limit window")
	fs.IntVar(&c.MaxArrayElements, "max-array", brazeapi.DefaultMaxArrayElements, "elements an array attribute keeps (the oldest go)")
	fs.StringVar(&blocked, "blocked", "", "comma-separated external `ids` refused as blacklisted")
	fs.StringVar(&alia, "aliases", "", "comma-separated alias-only profiles that exist, as `label:name`")
	fs.Int64Var(&f.Seed, "seed", 1, "seed of the fault draws, to repeat a run")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "share of requests (0-1) answered with one of -error-codes, nothing applied")
	fs.StringVar(&codes, "error-codes", "500,502,503,504", "comma-separated 5xx `codes` -error-rate picks from")
	fs.Float64Var(&f.SlowRate, "slow-rate", 0, "share of requests (0-1) answered after -slow-delay")
	fs.DurationVar(&f.SlowDelay, "slow-delay", 5*time.Second, "delay of a slow request")
	fs.Float64Var(&f.ResetRate, "reset-rate", 0, "share of requests (0-1) whose connection is reset without an answer")
	fs.Float64Var(&f.QueuedRate, "queued-rate", 0, "share of requests (0-1) answered 202 queued (applied)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n", fs.Args())
		return o, errUsage
	}
	if keys == "" {
		keys = os.Getenv(apiKeysEnv)
	}
	c.APIKeys, c.KeysWithoutPermission, c.BlockedExternalIDs = split(keys), split(noPerm), split(blocked)
	for _, a := range split(alia) {
		label, name, ok := strings.Cut(a, ":")
		if !ok || label == "" || name == "" {
			fmt.Fprintf(stderr, "-aliases: %q is not label:name\n", a)
			return o, errUsage
		}
		c.Aliases = append(c.Aliases, braze.AliasKey(label, name))
	}
	for _, s := range split(codes) {
		code, err := strconv.Atoi(s)
		if err != nil || code < 500 || code > 599 {
			fmt.Fprintf(stderr, "-error-codes: %q is not a 5xx status code\n", s)
			return o, errUsage
		}
		f.ErrorCodes = append(f.ErrorCodes, code)
	}
	for name, rate := range map[string]float64{"-error-rate": f.ErrorRate, "-slow-rate": f.SlowRate, "-reset-rate": f.ResetRate, "-queued-rate": f.QueuedRate} {
		if rate < 0 || rate > 1 {
			fmt.Fprintf(stderr, "%s: %v is not between 0 and 1\n", name, rate)
			return o, errUsage
		}
	}
	return o, nil
}

func split(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
