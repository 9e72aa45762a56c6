// Package cmdutil is the scaffolding this project's commands share: running
// until a signal, exit statuses, flags, and an emulator's life from
// listening to its final statistics.
package cmdutil

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
)

// ErrUsage is a bad command line, already explained on stderr; the command
// exits 2.
var ErrUsage = errors.New("usage")

// Main runs run with a context that ends at the first SIGINT or SIGTERM; a
// second signal kills at once, even during shutdown. It exits 0 when run
// returns nil or flag.ErrHelp, 2 for ErrUsage, codes[e] for an error that
// is e (the command has said why), else 1 after printing "name: error".
func Main(name string, run func(ctx context.Context) error, codes map[error]int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	err := run(ctx)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return
	case errors.Is(err, ErrUsage):
		os.Exit(2)
	}
	for e, code := range codes {
		if errors.Is(err, e) {
			os.Exit(code)
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}

// Parse parses args into fs, whose output is stderr: ErrUsage for a flag
// that is not defined or not valid, or an argument left over (said on
// stderr, with the usage); flag.ErrHelp for -help.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		return Usage(fs, fmt.Sprintf("unexpected arguments: %q", fs.Args()))
	}
	return nil
}

// Usage says why a command line is refused, then the usage; it returns
// ErrUsage.
func Usage(fs *flag.FlagSet, why string) error {
	fmt.Fprintln(fs.Output(), why)
	fs.Usage()
	return ErrUsage
}

// SplitList splits a comma-separated list, dropping blank items.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// FaultFlags are the fault flags of the emulators' commands; the command
// copies them into its emulator's Faults.
type FaultFlags struct {
	Seed       int64
	ErrorRate  float64
	ErrorCodes []int
	SlowRate   float64
	SlowDelay  time.Duration
	ResetRate  float64

	codes string
}

// Register defines the flags on fs; failed says what an injected error
// leaves undone ("nothing applied").
func (f *FaultFlags) Register(fs *flag.FlagSet, failed string) {
	fs.Int64Var(&f.Seed, "seed", 1, "seed of the fault draws, to repeat a run")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "share of requests (0-1) answered with one of -error-codes, "+failed)
	fs.StringVar(&f.codes, "error-codes", "500,502,503,504", "comma-separated 5xx `codes` -error-rate picks from")
	fs.Float64Var(&f.SlowRate, "slow-rate", 0, "share of requests (0-1) answered after -slow-delay")
	fs.DurationVar(&f.SlowDelay, "slow-delay", 5*time.Second, "delay of a slow request")
	fs.Float64Var(&f.ResetRate, "reset-rate", 0, "share of requests (0-1) whose connection is reset without an answer")
}

// Check reads the error codes and checks the rates once fs is parsed; a
// refusal is said on fs's output, and is ErrUsage.
func (f *FaultFlags) Check(fs *flag.FlagSet) error {
	f.ErrorCodes = nil
	for _, s := range SplitList(f.codes) {
		code, err := strconv.Atoi(s)
		if err != nil || code < 500 || code > 599 {
			return Usage(fs, fmt.Sprintf("-error-codes: %q is not a 5xx status code", s))
		}
		f.ErrorCodes = append(f.ErrorCodes, code)
	}
	return CheckShares(fs, map[string]float64{"-error-rate": f.ErrorRate, "-slow-rate": f.SlowRate, "-reset-rate": f.ResetRate})
}

// CheckShares refuses a flag, named with its dash, whose share of requests
// is not between 0 and 1.
func CheckShares(fs *flag.FlagSet, shares map[string]float64) error {
	for name, share := range shares {
		if share < 0 || share > 1 {
			return Usage(fs, fmt.Sprintf("%s: %v is not between 0 and 1", name, share))
		}
	}
	return nil
}

// ShutdownTimeout bounds the wait for requests in flight when an emulator
// stops.
const ShutdownTimeout = 5 * time.Second

// Emulator is a started emulator's life, for Serve.
type Emulator struct {
	Name     string
	Shutdown func(context.Context) error
	// Flush, if set, runs every second while serving, so that a file being
	// followed stays current; an error (a full disk) stops the emulator.
	Flush func() error
	// Close, if set, runs after the shutdown: the last flush, closing files.
	Close func() error
	Stats func() any // the final statistics, as JSON
}

// Serve runs until ctx ends (or Flush fails), then shuts the emulator down
// within ShutdownTimeout, closes, and prints the final statistics to stderr.
func Serve(ctx context.Context, e Emulator, stderr io.Writer) error {
	err := waitFlushing(ctx, e.Flush)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err = errors.Join(err, e.Shutdown(shutdownCtx))
	if e.Close != nil {
		err = errors.Join(err, e.Close())
	}
	final, _ := json.MarshalIndent(e.Stats(), "", "  ") // counters: cannot fail
	fmt.Fprintf(stderr, "%s stopped; final stats:\n%s\n", e.Name, final)
	return err
}

func waitFlushing(ctx context.Context, flush func() error) error {
	if flush == nil {
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
			if err := flush(); err != nil {
				return fmt.Errorf("recording: %w", err)
			}
		}
	}
}
