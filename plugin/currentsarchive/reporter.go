package currentsarchive

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"golang.org/x/sys/unix"

	"github.com/connect-amplitude/connect-amplitude/internal/backfill"
)

const (
	// The terminal line is redrawn this often; metrics are updated every
	// second.
	drawEvery   = 250 * time.Millisecond
	metricEvery = time.Second
	// Rates and the time left average over this window.
	rateWindow = 10 * time.Second
)

// reporter reports a backfill's progress: metrics, and either a line drawn
// on a terminal or log lines.
type reporter struct {
	counters *backfill.Counters
	log      *service.Logger
	interval time.Duration // between log lines; 0: none
	terminal io.Writer     // nil unless stderr is a terminal
	width    func() int

	gauges map[string]*service.MetricGauge

	once, stopOnce sync.Once
	quit           chan struct{}
	done           chan struct{}
	meter          *backfill.Meter
}

var gaugeNames = []string{
	"files_total", "files_done", "files_failed", "files_skipped",
	"events_read", "events_sent", "events_dead_lettered", "events_left_out",
	"events_per_second", "seconds_left",
}

func newReporter(c *backfill.Counters, res *service.Resources, interval time.Duration, terminal bool, stderr *os.File) *reporter {
	r := &reporter{counters: c, log: res.Logger(), interval: interval, quit: make(chan struct{}), done: make(chan struct{}), gauges: map[string]*service.MetricGauge{}}
	if terminal {
		r.terminal = stderr
		r.width = func() int {
			ws, err := unix.IoctlGetWinsize(int(stderr.Fd()), unix.TIOCGWINSZ)
			if err != nil || ws.Col == 0 {
				return 0
			}
			return int(ws.Col)
		}
	}
	for _, name := range gaugeNames {
		r.gauges[name] = res.Metrics().NewGauge("currents_archive_" + name)
	}
	return r
}

// isTerminal reports whether f is a terminal (a pipe or a file is not).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func (r *reporter) start() {
	r.once.Do(func() {
		r.meter = backfill.NewMeter(r.counters.Snapshot(time.Now()), rateWindow)
		go r.loop()
	})
}

// stop ends the reports with the summary; it returns once they are out.
func (r *reporter) stop() {
	r.stopOnce.Do(func() {
		r.once.Do(func() { close(r.done) }) // never started: nothing to report
		close(r.quit)
		<-r.done
	})
}

func (r *reporter) loop() {
	defer close(r.done)
	tick := time.NewTicker(drawEvery)
	defer tick.Stop()
	lastMetric, lastLog := time.Now(), time.Now()
	for {
		select {
		case now := <-tick.C:
			s := r.counters.Snapshot(now)
			r.meter.Add(s)
			rates := r.meter.Rates()
			if now.Sub(lastMetric) >= metricEvery {
				r.setGauges(s, rates)
				lastMetric = now
			}
			switch {
			case r.terminal != nil:
				r.draw(backfill.Line(s, rates))
			case r.interval > 0 && now.Sub(lastLog) >= r.interval:
				r.log.Infof("currents_archive: %s", backfill.Line(s, rates))
				lastLog = now
			}
		case <-r.quit:
			s := r.counters.Snapshot(time.Now())
			r.meter.Add(s)
			rates := r.meter.Rates()
			r.setGauges(s, rates)
			summary := backfill.Summary(s, r.meter.Elapsed())
			if r.terminal != nil {
				fmt.Fprintf(r.terminal, "\r%s\x1b[K\n", summary)
			}
			r.log.Infof("currents_archive: %s", summary)
			return
		}
	}
}

// draw replaces the terminal's current line, cut to its width so that it
// never wraps (a wrapped line could not be redrawn in place).
func (r *reporter) draw(line string) {
	if w := r.width(); w > 1 && len(line) > w-1 {
		line = line[:w-1]
	}
	fmt.Fprintf(r.terminal, "\r%s\x1b[K", line)
}

func (r *reporter) setGauges(s backfill.Snapshot, rates backfill.Rates) {
	left := int64(-1)
	if rates.Left >= 0 {
		left = int64(rates.Left.Seconds())
	}
	for name, v := range map[string]int64{
		"files_total": s.FilesTotal, "files_done": s.FilesDone, "files_failed": s.FilesFailed, "files_skipped": s.FilesSkipped,
		"events_read": s.EventsRead, "events_sent": s.EventsSent(), "events_dead_lettered": s.EventsDead, "events_left_out": s.EventsOut,
		"events_per_second": int64(rates.EventsPerSecond + 0.5), "seconds_left": left,
	} {
		r.gauges[name].Set(v)
	}
}
