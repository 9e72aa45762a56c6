// Command bench-e2e measures the connect-amplitude binary end to end for
// scripts/bench.sh (make bench): it starts the Amplitude emulator as its own
// process, runs a pipeline command against it until the command exits, and
// records the throughput, CPU time and peak memory of the command, what the
// emulator received, and the dead-lettered events. Then it prints every
// run's figures, and the Go benchmarks' summary, as one table.
//
//	bench-e2e run -name NAME -events N -input FILE -emulator BIN -path /2/httpapi \
//	    -results FILE [-emulator-args ARGS] [-profile FILE] [-kafka] -- COMMAND [ARGS...]
//	bench-e2e table -results FILE [-gobench FILE] [-notes FILE]
//
// The command learns its input, endpoint and dead-letter file from the
// environment: BENCH_INPUT, BENCH_ENDPOINT, BENCH_DEAD_LETTER, and, with
// -profile, BENCH_HTTP=true and BENCH_HTTP_ADDRESS (for /debug/pprof). With
// -kafka the command is the send stage (config/kafka-send.yaml): the input
// is mapped into a topic of a Kafka cluster in this process, and the
// command is stopped once every event arrived (kafka.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		}
		os.Exit(1)
	}
}

const usage = "usage: bench-e2e run [flags] -- COMMAND [ARGS...] | bench-e2e table [flags]"

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "run":
		return runCommand(ctx, args[1:], stderr)
	case "table":
		return tableCommand(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown subcommand %q; %s", args[0], usage)
}

func runCommand(ctx context.Context, args []string, stderr io.Writer) error {
	var c runConfig
	var emulatorArgs, results string
	fs := flag.NewFlagSet("bench-e2e run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Name, "name", "", "the run's row label")
	fs.StringVar(&c.IDs, "ids", "", "how ids are spread in the input, for the table")
	fs.IntVar(&c.Events, "events", 0, "Currents events in -input, each of which must reach the emulator or the dead letter")
	fs.StringVar(&c.Input, "input", "", "the JSON-lines input file (BENCH_INPUT)")
	fs.StringVar(&c.Emulator, "emulator", "bin/amplitude-emulator", "the amplitude-emulator binary")
	fs.StringVar(&emulatorArgs, "emulator-args", "", "extra emulator flags, space-separated")
	fs.StringVar(&c.Path, "path", "/2/httpapi", "endpoint path appended to the emulator's URL (BENCH_ENDPOINT)")
	fs.StringVar(&c.DeadLetter, "dead-letter", "", "the dead-letter file the command writes (BENCH_DEAD_LETTER); default: beside -results")
	fs.StringVar(&c.Profile, "profile", "", "write a CPU profile of the command, from its /debug/pprof/profile, to this file")
	fs.DurationVar(&c.ProfileAfter, "profile-after", 2*time.Second, "start the profile this long after the command starts")
	fs.DurationVar(&c.ProfileFor, "profile-for", 10*time.Second, "profile this long")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Minute, "stop the command after this long and fail")
	fs.StringVar(&results, "results", "", "append the run's figures to this JSON-lines file")
	fs.BoolVar(&c.Kafka, "kafka", false, "map -input into a topic of a Kafka cluster in this process (KAFKA_BROKERS, KAFKA_TOPIC, KAFKA_CONSUMER_GROUP, AMPLITUDE_ENDPOINT, DEAD_LETTER_FILE) and stop the command once every event arrived")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.Command = fs.Args()
	c.EmulatorArgs = strings.Fields(emulatorArgs)
	switch {
	case c.Name == "" || c.Input == "" || results == "":
		return errors.New("run: -name, -input and -results are required")
	case c.Events < 1:
		return errors.New("run: -events must be positive")
	case len(c.Command) == 0:
		return errors.New("run: no command after --")
	}
	// Files beside the results, named after the run.
	base := filepath.Join(filepath.Dir(results), slug(c.Name+" "+c.IDs))
	c.Log = base + ".log"
	if c.DeadLetter == "" {
		c.DeadLetter = base + "-dead-letter.jsonl"
	}
	res, err := run(ctx, c)
	if res != nil {
		// Failed runs are recorded too: the table shows what was measured.
		if werr := appendResult(results, *res); werr != nil {
			err = errors.Join(err, werr)
		}
		fmt.Fprintln(stderr, res.summary())
	}
	return err
}

// slug makes a run's name a file name: "amplitude http_v2 hot" becomes
// "amplitude-http_v2-hot".
func slug(name string) string {
	return strings.Join(strings.FieldsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.')
	}), "-")
}

func tableCommand(args []string, stdout, stderr io.Writer) error {
	var results, gobench, notes string
	fs := flag.NewFlagSet("bench-e2e table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&results, "results", "", "the JSON-lines file of the runs")
	fs.StringVar(&gobench, "gobench", "", "raw `go test -bench` output to summarise")
	fs.StringVar(&notes, "notes", "", "a file of notes printed under the table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if results == "" {
		return errors.New("table: -results is required")
	}
	runs, err := readResults(results)
	if err != nil {
		return err
	}
	var benches []benchSummary
	if gobench != "" {
		f, err := os.Open(gobench)
		if err != nil {
			return err
		}
		defer f.Close()
		if benches, err = summariseGoBench(f); err != nil {
			return err
		}
	}
	var noteText []byte
	if notes != "" {
		if noteText, err = os.ReadFile(notes); err != nil {
			return err
		}
	}
	return writeReport(stdout, machineInfo(), runs, benches, string(noteText))
}
