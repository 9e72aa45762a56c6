package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/connect-amplitude/connect-amplitude/emulator"
)

// runConfig is one end-to-end run: a pipeline command against a fresh
// emulator.
type runConfig struct {
	Name, IDs    string
	Events       int // Currents events in Input
	Input        string
	Emulator     string
	EmulatorArgs []string
	Path         string // the API's path on the emulator
	DeadLetter   string
	Log          string // the command's stdout and stderr
	Profile      string
	ProfileAfter time.Duration
	ProfileFor   time.Duration
	Timeout      time.Duration
	Command      []string
	// Kafka: the command is the send stage, reading the mapped input from a
	// Kafka topic (see kafka.go), stopped once every event arrived.
	Kafka bool
}

// result is what one run measured. Figures of the command are its own
// process's, from wait4: CPU is user plus system time, memory the peak
// resident set.
type result struct {
	Name               string         `json:"name"`
	IDs                string         `json:"ids"`
	Events             int            `json:"events"`
	Seconds            float64        `json:"seconds"` // from the command's start to its exit
	CPUSeconds         float64        `json:"cpu_seconds"`
	PeakRSSBytes       int64          `json:"peak_rss_bytes"`
	EmulatorCPUSeconds float64        `json:"emulator_cpu_seconds"`
	DeadLettered       int            `json:"dead_lettered"`
	DeadReasons        map[string]int `json:"dead_reasons"`
	Emulator           emulator.Stats `json:"emulator"`
	LoadAverage        string         `json:"load_average"` // 1, 5 and 15 minutes, at the start
	Error              string         `json:"error,omitempty"`
}

// run measures one configuration. It returns a result whenever the command
// ran, with an error too if the run failed (the command failed, or events
// were lost).
func run(ctx context.Context, c runConfig) (*result, error) {
	emu, err := startEmulator(c.Emulator, c.EmulatorArgs)
	if err != nil {
		return nil, err
	}
	defer emu.stop()
	if err := os.Remove(c.DeadLetter); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	logFile, err := os.Create(c.Log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	cmd := exec.Command(c.Command[0], c.Command[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(),
		"BENCH_INPUT="+c.Input,
		"BENCH_ENDPOINT="+emu.url+c.Path,
		"BENCH_DEAD_LETTER="+c.DeadLetter,
	)
	var source *kafkaSource
	if c.Kafka {
		if source, err = loadKafka(ctx, c.Input); err != nil {
			return nil, err
		}
		defer source.close()
		if source.events != c.Events {
			return nil, fmt.Errorf("%s holds %d events, not -events %d", c.Input, source.events, c.Events)
		}
		cmd.Env = append(cmd.Env, source.env(emu.url+c.Path, c.DeadLetter)...)
	}
	var debugAddr string
	if c.Profile != "" {
		if debugAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, "BENCH_HTTP=true", "BENCH_HTTP_ADDRESS="+debugAddr)
	}

	res := &result{Name: c.Name, IDs: c.IDs, Events: c.Events, LoadAverage: loadAverage()}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var profileErr error
	var profiling sync.WaitGroup
	if c.Profile != "" {
		profiling.Add(1)
		go func() {
			defer profiling.Done()
			profileErr = fetchProfile(ctx, debugAddr, c.Profile, c.ProfileAfter, c.ProfileFor)
		}()
	}
	var waitErr error
	if c.Kafka {
		var took time.Duration
		took, waitErr = waitAccounted(ctx, cmd, start, c, emu, source)
		res.Seconds = took.Seconds()
	} else {
		waitErr = waitFor(ctx, cmd, c.Timeout)
		res.Seconds = time.Since(start).Seconds()
	}
	profiling.Wait()
	if u, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.CPUSeconds = cpuSeconds(u)
		res.PeakRSSBytes = u.Maxrss * 1024 // kilobytes on Linux
	}

	var errs []error
	if waitErr != nil {
		errs = append(errs, fmt.Errorf("%s: %w (log: %s)", c.Name, waitErr, c.Log))
	}
	if profileErr != nil {
		errs = append(errs, fmt.Errorf("%s: profile: %w", c.Name, profileErr))
	}
	if res.Emulator, err = emu.stats(ctx); err != nil {
		errs = append(errs, err)
	}
	res.EmulatorCPUSeconds, err = emu.stop()
	if err != nil {
		errs = append(errs, err)
	}
	if res.DeadLettered, res.DeadReasons, err = countDeadLetters(c.DeadLetter); err != nil {
		errs = append(errs, err)
	}
	if err := res.accounted(); err != nil && waitErr == nil {
		errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
	}
	if err := errors.Join(errs...); err != nil {
		res.Error = err.Error()
		return res, err
	}
	return res, nil
}

// accounted checks that every event reached Amplitude once, or the dead
// letter: the emulator counts an insert_id it has seen before as
// deduplicated, not ingested.
func (r *result) accounted() error {
	got := r.Emulator.EventsIngested + int64(r.DeadLettered)
	if got != int64(r.Events) {
		return fmt.Errorf("%d events in, but %d ingested by the emulator + %d dead-lettered = %d: %d events lost",
			r.Events, r.Emulator.EventsIngested, r.DeadLettered, got, int64(r.Events)-got)
	}
	return nil
}

func cpuSeconds(u *syscall.Rusage) float64 {
	return time.Duration(syscall.TimevalToNsec(u.Utime) + syscall.TimevalToNsec(u.Stime)).Seconds()
}

// waitFor waits for the command, killing it at the timeout or when ctx ends.
func waitFor(ctx context.Context, cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %s: killed", timeout)
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
}

// emulatorProcess is amplitude-emulator running as its own process on a
// free loopback port.
type emulatorProcess struct {
	cmd      *exec.Cmd
	url      string
	done     chan struct{} // closed once its stderr is drained
	stopOnce sync.Once
	cpu      float64
	stopErr  error
}

var listeningRE = regexp.MustCompile(`listening on (http://\S+)`)

func startEmulator(bin string, args []string) (*emulatorProcess, error) {
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &emulatorProcess{cmd: cmd, done: make(chan struct{})}
	urls := make(chan string, 1)
	var tail bytes.Buffer // what it said, for errors
	go func() {
		defer close(e.done)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			if m := listeningRE.FindStringSubmatch(lines.Text()); m != nil {
				urls <- m[1]
				continue
			}
			if tail.Len() < 4096 {
				tail.WriteString(lines.Text() + "\n")
			}
		}
	}()
	select {
	case e.url = <-urls:
		return e, nil
	case <-e.done:
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s exited before listening: %s", bin, strings.TrimSpace(tail.String()))
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-e.done
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s did not say where it listens within 10s", bin)
	}
}

func (e *emulatorProcess) stats(ctx context.Context) (emulator.Stats, error) {
	var s emulator.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/stats", nil)
	if err != nil {
		return s, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, fmt.Errorf("emulator /stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("emulator /stats: %s", resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// stop ends the emulator as a person would, with SIGINT, and returns the CPU
// time it used.
func (e *emulatorProcess) stop() (float64, error) {
	e.stopOnce.Do(func() {
		_ = e.cmd.Process.Signal(os.Interrupt)
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			_ = e.cmd.Process.Kill()
			<-e.done
		}
		if err := e.cmd.Wait(); err != nil {
			e.stopErr = fmt.Errorf("emulator: %w", err)
		}
		if u, ok := e.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			e.cpu = cpuSeconds(u)
		}
	})
	return e.cpu, e.stopErr
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// fetchProfile takes a CPU profile of the command through Benthos's
// debug endpoint while it runs.
func fetchProfile(ctx context.Context, addr, path string, after, length time.Duration) error {
	select {
	case <-time.After(after):
	case <-ctx.Done():
		return ctx.Err()
	}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(1, int(length.Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The command may not listen yet: try for a few seconds.
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		if resp, err = http.DefaultClient.Do(req); err == nil || attempt == 50 || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("%w (did the run end before the profile? use a larger -n or a shorter -profile-for)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// reasonRE finds the reason in an amplitude output failure:
// "amplitude: <reason>: <detail>".
var reasonRE = regexp.MustCompile(`^amplitude: ([a-z_]+): `)

// countDeadLetters counts the lines of the dead-letter file, by the reason in
// their "reason" field ("error" in configs before the shape was one). No
// file means nothing failed.
func countDeadLetters(path string) (int, map[string]int, error) {
	reasons := map[string]int{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, reasons, nil
	}
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	n := 0
	lines := bufio.NewScanner(f)
	lines.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for lines.Scan() {
		var rec struct {
			Error  string `json:"error"` // older configs' name for it, for old binaries' runs
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			return 0, nil, fmt.Errorf("%s: line %d: %w", path, n+1, err)
		}
		n++
		reason := "other"
		if m := reasonRE.FindStringSubmatch(rec.Error + rec.Reason); m != nil {
			reason = m[1]
		}
		reasons[reason]++
	}
	return n, reasons, lines.Err()
}

// loadAverage is /proc/loadavg's first three fields: how busy the machine
// was, since other work on it slows a run down.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
