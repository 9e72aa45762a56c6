package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func appendResult(path string, r result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readResults(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []result
	dec := json.NewDecoder(f)
	for {
		var r result
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
}

func (r result) eventsPerSecond() float64 { return float64(r.Events) / r.Seconds }

// perMillion scales a run's seconds to a million events.
func (r result) perMillion(seconds float64) float64 { return seconds * 1e6 / float64(r.Events) }

func (r result) requests() int64 {
	var n int64
	for _, c := range r.Emulator.Requests {
		n += c
	}
	return n
}

// summary is the one line printed as each run ends.
func (r result) summary() string {
	s := fmt.Sprintf("%s: %d events in %.1fs (%s events/s), CPU %.1fs, peak RSS %.0f MB, %d dead-lettered, emulator ingested %d",
		r.Name, r.Events, r.Seconds, thousands(r.eventsPerSecond()), r.CPUSeconds, mb(r.PeakRSSBytes), r.DeadLettered, r.Emulator.EventsIngested)
	if r.Error != "" {
		s += "\n  FAILED: " + r.Error
	}
	return s
}

// machine is what the figures depend on besides the code.
type machine struct {
	Cores     int
	GoVersion string
	OS, Arch  string
	CPU       string
}

func machineInfo() machine {
	m := machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// writeReport prints the machine, the end-to-end table, the ratio of each
// run to the baseline runs, and the Go benchmarks' medians.
func writeReport(w io.Writer, m machine, runs []result, benches []benchSummary, notes string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Machine: %d cores", m.Cores)
	if m.CPU != "" {
		fmt.Fprintf(bw, " (%s)", m.CPU)
	}
	fmt.Fprintf(bw, ", %s %s/%s\n\n", m.GoVersion, m.OS, m.Arch)

	if len(runs) > 0 {
		fmt.Fprintln(bw, "End to end (the binary reads a JSON-lines file, or an Avro archive of the same events in the avro cases, maps, sends to the emulator running as its own process;")
		fmt.Fprintln(bw, "a case run more than once shows its run of median events/s, and the range of all its runs):")
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "| run | ids | events | events/s | range | CPU s per M events | peak RSS MB | emulator CPU s per M | dead-lettered | requests | events/request | KB/request | load avg at start |")
		fmt.Fprintln(bw, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
		cs := groupCases(runs)
		for _, c := range cs {
			r := c.shown
			reqs := r.requests()
			perReq := func(v int64) float64 {
				if reqs == 0 {
					return 0
				}
				return float64(v) / float64(reqs)
			}
			name := r.Name
			if r.Error != "" {
				name += " (FAILED)"
			}
			fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %.1f | %.0f | %.1f | %s | %s | %.0f | %.0f | %s |\n",
				name, r.IDs, thousands(float64(r.Events)), thousands(r.eventsPerSecond()), c.spread(),
				r.perMillion(r.CPUSeconds), mb(r.PeakRSSBytes), r.perMillion(r.EmulatorCPUSeconds),
				deadLetters(r), requestCounts(r), perReq(r.Emulator.EventsReceived), perReq(r.Emulator.BytesReceived)/1000, r.LoadAverage)
		}
		fmt.Fprintln(bw)
		for _, line := range ratios(cs) {
			fmt.Fprintln(bw, line)
		}
		for _, line := range avroComparisons(cs) {
			fmt.Fprintln(bw, line)
		}
	}
	if notes != "" {
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, strings.TrimSpace(notes))
	}
	if len(benches) > 0 {
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "Go benchmarks of each stage (median of each benchmark's runs):")
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "| benchmark | runs | ns/op | B/op | allocs/op | other |")
		fmt.Fprintln(bw, "|---|--:|--:|--:|--:|---|")
		for _, b := range benches {
			var other []string
			for _, u := range b.Units {
				if u != "ns/op" && u != "B/op" && u != "allocs/op" {
					other = append(other, formatMetric(b.Median[u])+" "+u)
				}
			}
			fmt.Fprintf(bw, "| %s | %d | %s | %s | %s | %s |\n", b.Name, b.Runs,
				metricOrDash(b, "ns/op"), metricOrDash(b, "B/op"), metricOrDash(b, "allocs/op"), strings.Join(other, ", "))
		}
	}
	return bw.Flush()
}

// runCase is one case (a run name on an input) and its runs. The machine's
// speed drifts from one run to the next, so a case may be run several times
// and is shown by its median run.
type runCase struct {
	shown            result // the run of median events/s (the slower middle one of an even count), or the first failed run
	runs             int
	slowest, fastest float64 // events/s of the runs that passed
}

// groupCases gathers runs by case, in the order the cases first ran.
func groupCases(runs []result) []runCase {
	type key struct{ name, ids string }
	var order []key
	byCase := map[key][]result{}
	for _, r := range runs {
		k := key{r.Name, r.IDs}
		if _, seen := byCase[k]; !seen {
			order = append(order, k)
		}
		byCase[k] = append(byCase[k], r)
	}
	cases := make([]runCase, 0, len(order))
	for _, k := range order {
		rs := byCase[k]
		c := runCase{runs: len(rs)}
		if i := slices.IndexFunc(rs, func(r result) bool { return r.Error != "" }); i >= 0 {
			c.shown = rs[i]
			cases = append(cases, c)
			continue
		}
		slices.SortFunc(rs, func(a, b result) int { return cmp.Compare(a.eventsPerSecond(), b.eventsPerSecond()) })
		c.shown = rs[(len(rs)-1)/2]
		c.slowest, c.fastest = rs[0].eventsPerSecond(), rs[len(rs)-1].eventsPerSecond()
		cases = append(cases, c)
	}
	return cases
}

// spread is the case's events/s range over its runs, "1 run" when it has
// one, and its run count when one failed.
func (c runCase) spread() string {
	switch {
	case c.runs == 1:
		return "1 run"
	case c.shown.Error != "":
		return fmt.Sprintf("%d runs", c.runs)
	}
	return fmt.Sprintf("%s–%s (%d runs)", thousands(c.slowest), thousands(c.fastest), c.runs)
}

// ratios compares each case with the baseline cases on the same ids: a case
// named "baseline ..." is the reference for the others of its ids.
func ratios(cases []runCase) []string {
	var lines []string
	for _, bc := range cases {
		base := bc.shown
		if !strings.HasPrefix(base.Name, "baseline") || base.Error != "" {
			continue
		}
		for _, c := range cases {
			r := c.shown
			if r.IDs != base.IDs || strings.HasPrefix(r.Name, "baseline") || r.Error != "" {
				continue
			}
			lines = append(lines, fmt.Sprintf("Throughput %s / %s (%s ids): %.1fx; CPU per event %.1fx less.",
				r.Name, base.Name, r.IDs, r.eventsPerSecond()/base.eventsPerSecond(), base.CPUSeconds/float64(base.Events)/(r.CPUSeconds/float64(r.Events))))
		}
	}
	return lines
}

// avroSuffix names the case that replays an Avro archive of the events of
// the case named without it.
const avroSuffix = " avro"

// avroComparisons sets each Avro case beside its JSON case: the same events,
// the same output, in the same rounds.
func avroComparisons(cases []runCase) []string {
	var lines []string
	for _, ac := range cases {
		a := ac.shown
		jsonName, ok := strings.CutSuffix(a.Name, avroSuffix)
		if !ok || a.Error != "" {
			continue
		}
		for _, jc := range cases {
			j := jc.shown
			if j.Name != jsonName || j.IDs != a.IDs || j.Error != "" {
				continue
			}
			cpuA, cpuJ := a.perMillion(a.CPUSeconds), j.perMillion(j.CPUSeconds)
			lines = append(lines, fmt.Sprintf("Avro archive / JSON lines, the same events (%s, %s ids): %s vs %s events/s (%.2fx); CPU %.1f vs %.1f µs per event (%.2fx); peak RSS %.0f vs %.0f MB.",
				jsonName, a.IDs, thousands(a.eventsPerSecond()), thousands(j.eventsPerSecond()), a.eventsPerSecond()/j.eventsPerSecond(),
				cpuA, cpuJ, cpuA/cpuJ, mb(a.PeakRSSBytes), mb(j.PeakRSSBytes)))
		}
	}
	return lines
}

func deadLetters(r result) string {
	if r.DeadLettered == 0 {
		return "0"
	}
	reasons := slices.Sorted(maps.Keys(r.DeadReasons))
	parts := make([]string, len(reasons))
	for i, k := range reasons {
		parts[i] = fmt.Sprintf("%s %s", thousands(float64(r.DeadReasons[k])), k)
	}
	return thousands(float64(r.DeadLettered)) + " (" + strings.Join(parts, ", ") + ")"
}

// requestCounts is the emulator's request count, with the answers that were
// not 200 named.
func requestCounts(r result) string {
	s := thousands(float64(r.requests()))
	var other []string
	for _, code := range slices.Sorted(maps.Keys(r.Emulator.Requests)) {
		if code != 200 {
			other = append(other, fmt.Sprintf("%s × %d", thousands(float64(r.Emulator.Requests[code])), code))
		}
	}
	if len(other) > 0 {
		s += " (" + strings.Join(other, ", ") + ")"
	}
	return s
}

func mb(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// thousands formats a count with thousands separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// benchSummary is one Go benchmark over its runs (-count).
type benchSummary struct {
	Name   string // package-relative: "mapping.BenchmarkMapRaw"
	Runs   int
	Units  []string // in the order the output gives them
	Median map[string]float64
}

// summariseGoBench reads `go test -bench` output, as benchstat does, and
// returns each benchmark's median per unit, in the order first seen.
func summariseGoBench(r io.Reader) ([]benchSummary, error) {
	type acc struct {
		units  []string
		values map[string][]float64
		runs   int
	}
	var order []string
	all := map[string]*acc{}
	pkg := ""
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		line := lines.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p[strings.LastIndex(p, "/")+1:]
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a benchmark's own log line
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the GOMAXPROCS suffix
			}
		}
		if pkg != "" {
			name = pkg + "." + name
		}
		a := all[name]
		if a == nil {
			a = &acc{values: map[string][]float64{}}
			all[name] = a
			order = append(order, name)
		}
		a.runs++
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %w", line, err)
			}
			unit := f[i+1]
			if _, seen := a.values[unit]; !seen {
				a.units = append(a.units, unit)
			}
			a.values[unit] = append(a.values[unit], v)
		}
	}
	if err := lines.Err(); err != nil {
		return nil, err
	}
	out := make([]benchSummary, 0, len(order))
	for _, name := range order {
		a := all[name]
		s := benchSummary{Name: name, Runs: a.runs, Units: a.units, Median: map[string]float64{}}
		for u, vs := range a.values {
			s.Median[u] = median(vs)
		}
		out = append(out, s)
	}
	return out, nil
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func metricOrDash(b benchSummary, unit string) string {
	v, ok := b.Median[unit]
	if !ok {
		return "-"
	}
	return formatMetric(v)
}

// formatMetric keeps three significant digits, as benchstat does.
func formatMetric(v float64) string {
	switch {
	case v >= 1000:
		return thousands(v)
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
