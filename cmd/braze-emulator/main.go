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
	"strings"
	"sync"

	"github.com/connect-amplitude/connect-amplitude/emulator/braze"
	"github.com/connect-amplitude/connect-amplitude/internal/brazeapi"
	"github.com/connect-amplitude/connect-amplitude/internal/cmdutil"
)

const apiKeysEnv = "BRAZE_EMULATOR_API_KEYS"

func main() {
	cmdutil.Main("braze-emulator", func(ctx context.Context) error {
		return run(ctx, os.Args[1:], os.Stderr, nil)
	}, nil)
}

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
	return cmdutil.Serve(ctx, cmdutil.Emulator{Name: "braze-emulator", Shutdown: srv.Shutdown,
		Flush: rec.flush, Close: rec.close, Stats: func() any { return srv.Stats() }}, stderr)
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
		o                           options
		c                           = &o.cfg
		f                           = &c.Faults
		faults                      cmdutil.FaultFlags
		keys, noPerm, blocked, alia string
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
	faults.Register(fs, "nothing applied")
	fs.Float64Var(&f.QueuedRate, "queued-rate", 0, "share of requests (0-1) answered 202 queued (applied)")
	if err := cmdutil.Parse(fs, args); err != nil {
		return o, err
	}
	if err := faults.Check(fs); err != nil {
		return o, err
	}
	if err := cmdutil.CheckShares(fs, map[string]float64{"-queued-rate": f.QueuedRate}); err != nil {
		return o, err
	}
	f.Seed, f.ErrorRate, f.ErrorCodes = faults.Seed, faults.ErrorRate, faults.ErrorCodes
	f.SlowRate, f.SlowDelay, f.ResetRate = faults.SlowRate, faults.SlowDelay, faults.ResetRate
	if keys == "" {
		keys = os.Getenv(apiKeysEnv)
	}
	split := cmdutil.SplitList
	c.APIKeys, c.KeysWithoutPermission, c.BlockedExternalIDs = split(keys), split(noPerm), split(blocked)
	for _, a := range split(alia) {
		label, name, ok := strings.Cut(a, ":")
		if !ok || label == "" || name == "" {
			return o, cmdutil.Usage(fs, fmt.Sprintf("-aliases: %q is not label:name", a))
		}
		c.Aliases = append(c.Aliases, braze.AliasKey(label, name))
	}
	return o, nil
}
