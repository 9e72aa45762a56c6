package cmdutil

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

var errOwn = errors.New("own failure")

// TestMain lets TestMainExitsAsTheErrorSays run Main in a child process.
func TestMain(m *testing.M) {
	if outcome := os.Getenv("CMDUTIL_TEST_OUTCOME"); outcome != "" {
		errs := map[string]error{"nil": nil, "help": flag.ErrHelp, "usage": ErrUsage,
			"own": fmt.Errorf("wrapped: %w", errOwn), "other": errors.New("disk full")}
		Main("test-cmd", func(context.Context) error { return errs[outcome] }, map[error]int{errOwn: 3})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMainExitsAsTheErrorSays(t *testing.T) {
	for outcome, want := range map[string]struct {
		code   int
		stderr string
	}{
		"nil": {0, ""}, "help": {0, ""}, "usage": {2, ""}, "own": {3, ""}, "other": {1, "test-cmd: disk full\n"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "CMDUTIL_TEST_OUTCOME="+outcome)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want.code || stderr.String() != want.stderr {
			t.Errorf("%s: exit %d, stderr %q; want %d, %q", outcome, code, stderr.String(), want.code, want.stderr)
		}
	}
}

func TestParseRefusesWhatTheCommandDoesNotTake(t *testing.T) {
	for args, want := range map[string]string{
		"-n x":       "invalid value",
		"-other":     "flag provided but not defined",
		"-n 1 extra": `unexpected arguments: ["extra"]`,
	} {
		var out bytes.Buffer
		fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
		fs.SetOutput(&out)
		fs.Int("n", 0, "a number")
		if err := Parse(fs, strings.Fields(args)); !errors.Is(err, ErrUsage) || !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "Usage of cmd") {
			t.Errorf("%s: %v, output %q; want ErrUsage saying %q and the usage", args, err, out.String(), want)
		}
	}
	fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	if err := Parse(fs, []string{"-help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
}

func TestSplitListDropsBlankItems(t *testing.T) {
	if got := SplitList(" a, ,b ,,"); fmt.Sprint(got) != "[a b]" {
		t.Errorf("%q", got)
	}
	if got := SplitList(""); got != nil {
		t.Errorf("%q", got)
	}
}

func TestFaultFlagsAreCheckedAndNamedWhenRefused(t *testing.T) {
	parse := func(args string) (FaultFlags, string, error) {
		var f FaultFlags
		var out bytes.Buffer
		fs := flag.NewFlagSet("emu", flag.ContinueOnError)
		fs.SetOutput(&out)
		f.Register(fs, "nothing applied")
		err := Parse(fs, strings.Fields(args))
		if err == nil {
			err = f.Check(fs)
		}
		return f, out.String(), err
	}
	f, _, err := parse("-seed 3 -error-rate 0.5 -error-codes 503,504 -slow-rate 0.1 -slow-delay 2s -reset-rate 0.2")
	if err != nil || f.Seed != 3 || f.ErrorRate != 0.5 || fmt.Sprint(f.ErrorCodes) != "[503 504]" ||
		f.SlowRate != 0.1 || f.SlowDelay != 2*time.Second || f.ResetRate != 0.2 {
		t.Fatalf("%+v, %v", f, err)
	}
	if f, _, err := parse(""); err != nil || fmt.Sprint(f.ErrorCodes) != "[500 502 503 504]" || f.Seed != 1 {
		t.Fatalf("defaults: %+v, %v", f, err)
	}
	for args, want := range map[string]string{
		"-error-codes 404":  `-error-codes: "404" is not a 5xx status code`,
		"-error-codes five": `-error-codes: "five" is not a 5xx status code`,
		"-error-rate 2":     "-error-rate: 2 is not between 0 and 1",
		"-slow-rate -0.5":   "-slow-rate: -0.5 is not between 0 and 1",
		"-reset-rate 1.5":   "-reset-rate: 1.5 is not between 0 and 1",
	} {
		if _, out, err := parse(args); !errors.Is(err, ErrUsage) || !strings.Contains(out, want) {
			t.Errorf("%s: %v, output %q; want %q", args, err, out, want)
		}
	}
}

// Serve flushes while serving, and a failed flush stops the emulator; it
// shuts down, closes and prints the final statistics either way.
func TestServeShutsDownClosesAndReports(t *testing.T) {
	for _, failFlush := range []bool{false, true} {
		var steps []string
		flushed := make(chan struct{}, 10)
		ctx, cancel := context.WithCancel(context.Background())
		e := Emulator{
			Name: "emu",
			Flush: func() error {
				flushed <- struct{}{}
				if failFlush {
					return errors.New("disk full")
				}
				return nil
			},
			Shutdown: func(ctx context.Context) error {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("Shutdown without a deadline")
				}
				steps = append(steps, "shutdown")
				return nil
			},
			Close: func() error { steps = append(steps, "close"); return nil },
			Stats: func() any { return map[string]int{"requests": 7} },
		}
		var stderr bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, e, &stderr) }()
		<-flushed
		if !failFlush {
			cancel()
		}
		err := <-done
		cancel()
		if failFlush != (err != nil && strings.Contains(err.Error(), "recording: disk full")) {
			t.Errorf("failing flush %v: error %v", failFlush, err)
		}
		if fmt.Sprint(steps) != "[shutdown close]" || !strings.Contains(stderr.String(), "emu stopped; final stats:\n{\n  \"requests\": 7\n}") {
			t.Errorf("failing flush %v: steps %v, stderr %q", failFlush, steps, stderr.String())
		}
	}
}
