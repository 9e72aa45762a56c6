package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/emulator"
)

const goBenchOutput = `goos: linux
goarch: amd64
pkg: github.com/connect-amplitude/connect-amplitude/plugin/mapping
cpu: AMD EPYC
BenchmarkMapRaw-2   	  500000	      2000 ns/op	       0 B/op	       0 allocs/op
BenchmarkMapRaw-2   	  500000	      1000 ns/op	       0 B/op	       0 allocs/op
BenchmarkMapRaw-2   	  500000	      3000 ns/op	       8 B/op	       1 allocs/op
BenchmarkPipeline/method_on_bytes-2 	  300000	      4000 ns/op	    1379 B/op	      15 allocs/op
BenchmarkPipeline/method_on_bytes-2 	  300000	      5000 ns/op	    1379 B/op	      15 allocs/op
PASS
ok  	github.com/connect-amplitude/connect-amplitude/plugin/mapping	12.1s
pkg: github.com/connect-amplitude/connect-amplitude/internal/ampapi
BenchmarkPack/http_v2-2         	    9190	     46812 ns/op	      1119 events/request	        41.83 ns/event	     570 B/op	       0 allocs/op
BenchmarkLogs-2 	some line a benchmark logged
PASS
`

func TestSummariseGoBenchTakesEachUnitsMedian(t *testing.T) {
	got, err := summariseGoBench(strings.NewReader(goBenchOutput))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d benchmarks: %+v", len(got), got)
	}
	want := []struct {
		name string
		runs int
		ns   float64
		B    float64
	}{
		{"mapping.BenchmarkMapRaw", 3, 2000, 0},
		{"mapping.BenchmarkPipeline/method_on_bytes", 2, 4500, 1379},
		{"ampapi.BenchmarkPack/http_v2", 1, 46812, 570},
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Runs != w.runs || g.Median["ns/op"] != w.ns || g.Median["B/op"] != w.B {
			t.Errorf("benchmark %d: %+v, want %+v", i, g, w)
		}
	}
	if u := strings.Join(got[2].Units, ","); u != "ns/op,events/request,ns/event,B/op,allocs/op" {
		t.Errorf("units %s", u)
	}
}

func TestSummariseGoBenchRejectsABadFigure(t *testing.T) {
	if _, err := summariseGoBench(strings.NewReader("BenchmarkX-2 10 1e ns/op\n")); err == nil {
		t.Error("accepted")
	}
}

func sampleRuns() []result {
	return []result{
		{Name: "amplitude http_v2", IDs: "uniform", Events: 1_000_000, Seconds: 10, CPUSeconds: 15, PeakRSSBytes: 150 << 20,
			EmulatorCPUSeconds: 8, Emulator: emulator.Stats{Requests: map[int]int64{200: 1000}, EventsReceived: 1_000_000,
				EventsIngested: 1_000_000, BytesReceived: 900_000_000}, LoadAverage: "1.00 0.50 0.20"},
		{Name: "baseline http_client", IDs: "uniform", Events: 250_000, Seconds: 50, CPUSeconds: 75, PeakRSSBytes: 80 << 20,
			Emulator: emulator.Stats{Requests: map[int]int64{200: 300}, EventsReceived: 250_000, EventsIngested: 250_000}},
		{Name: "amplitude http_v2", IDs: "hot", Events: 1_000_000, Seconds: 20, CPUSeconds: 16, PeakRSSBytes: 190 << 20,
			DeadLettered: 9103, DeadReasons: map[string]int{"device_rate_limited": 9100, "daily_quota": 3},
			Emulator: emulator.Stats{Requests: map[int]int64{200: 1590, 429: 3}, EventsReceived: 992_343, EventsIngested: 990_897}},
		{Name: "amplitude batch", IDs: "uniform", Events: 1_000_000, Seconds: 12, Error: "amplitude batch: 5 events lost"},
	}
}

func TestTheReportShowsEachRunsFigures(t *testing.T) {
	var out bytes.Buffer
	m := machine{Cores: 2, GoVersion: "go1.26.8", OS: "linux", Arch: "amd64", CPU: "AMD EPYC"}
	if err := writeReport(&out, m, sampleRuns(), nil, "A note."); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	for _, want := range []string{
		"Machine: 2 cores (AMD EPYC), go1.26.8 linux/amd64",
		// events/s, CPU s per M, RSS MB, emulator CPU per M, dead letters, requests, events and KB per request, load
		"| amplitude http_v2 | uniform | 1,000,000 | 100,000 | 1 run | 15.0 | 150 | 8.0 | 0 | 1,000 | 1000 | 900 | 1.00 0.50 0.20 |",
		"| baseline http_client | uniform | 250,000 | 5,000 | 1 run | 300.0 | 80 |",
		"| 9,103 (3 daily_quota, 9,100 device_rate_limited) | 1,593 (3 × 429) | 623 |",
		"| amplitude batch (FAILED) | uniform |",
		"Throughput amplitude http_v2 / baseline http_client (uniform ids): 20.0x; CPU per event 20.0x less.",
		"A note.",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if strings.Count(report, "Throughput ") != 1 {
		t.Errorf("the failed run or the hot run was compared with the baseline:\n%s", report)
	}
}

func TestTheReportSetsTheAvroCaseBesideTheJSONCaseOfTheSameEvents(t *testing.T) {
	runs := []result{
		{Name: "amplitude http_v2", IDs: "uniform", Events: 1_000_000, Seconds: 10, CPUSeconds: 9, PeakRSSBytes: 150 << 20},
		{Name: "amplitude http_v2 avro", IDs: "uniform", Events: 1_000_000, Seconds: 8, CPUSeconds: 7.2, PeakRSSBytes: 120 << 20},
		{Name: "amplitude batch avro", IDs: "uniform", Events: 1_000_000, Seconds: 8, CPUSeconds: 7.2, Error: "lost events"},
	}
	var out bytes.Buffer
	if err := writeReport(&out, machine{Cores: 2}, runs, nil, ""); err != nil {
		t.Fatal(err)
	}
	want := "Avro archive / JSON lines, the same events (amplitude http_v2, uniform ids): 125,000 vs 100,000 events/s (1.25x); CPU 7.2 vs 9.0 µs per event (0.80x); peak RSS 120 vs 150 MB."
	if !strings.Contains(out.String(), want) || strings.Count(out.String(), "Avro archive / JSON lines") != 1 {
		t.Errorf("report lacks the one comparison %q:\n%s", want, out.String())
	}
}

func TestARepeatedCaseShowsItsMedianRunAndRange(t *testing.T) {
	run := func(seconds float64, err string) result {
		return result{Name: "amplitude http_v2", IDs: "uniform", Events: 1_000_000, Seconds: seconds, CPUSeconds: seconds, Error: err}
	}
	base := result{Name: "baseline http_client", IDs: "uniform", Events: 250_000, Seconds: 50, CPUSeconds: 100}
	for _, tt := range []struct {
		name string
		runs []result
		want []string
	}{
		{
			name: "three runs: the middle one, and the slowest to the fastest",
			runs: []result{run(10, ""), base, run(8, ""), run(12.5, "")},
			want: []string{"| amplitude http_v2 | uniform | 1,000,000 | 100,000 | 80,000–125,000 (3 runs) | 10.0 |",
				"Throughput amplitude http_v2 / baseline http_client (uniform ids): 20.0x; CPU per event 40.0x less."},
		},
		{
			name: "an even count: the slower middle run",
			runs: []result{run(10, ""), run(8, ""), run(12.5, ""), run(5, "")},
			want: []string{"| amplitude http_v2 | uniform | 1,000,000 | 100,000 | 80,000–200,000 (4 runs) |"},
		},
		{
			name: "a failed run: the case shows it",
			runs: []result{run(10, ""), run(8, "5 events lost"), base},
			want: []string{"| amplitude http_v2 (FAILED) | uniform | 1,000,000 | 125,000 | 2 runs |"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeReport(&out, machine{Cores: 2}, tt.runs, nil, ""); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
			if got := strings.Count(out.String(), "| amplitude http_v2"); got != 1 {
				t.Errorf("the case has %d rows, want 1:\n%s", got, out.String())
			}
		})
	}
}

func TestTheReportSummarisesTheGoBenchmarks(t *testing.T) {
	benches, err := summariseGoBench(strings.NewReader(goBenchOutput))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := writeReport(&out, machine{Cores: 2}, nil, benches, ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| mapping.BenchmarkMapRaw | 3 | 2,000 | 0 | 0 |  |",
		"| ampapi.BenchmarkPack/http_v2 | 1 | 46,812 | 570 | 0 | 1,119 events/request, 41.8 ns/event |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestResultsAreAppendedAndReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	for _, r := range sampleRuns() {
		if err := appendResult(path, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readResults(path)
	if err != nil || len(got) != 4 {
		t.Fatalf("%d results, %v", len(got), err)
	}
	if got[2].DeadReasons["device_rate_limited"] != 9100 || got[2].Emulator.Requests[429] != 3 || got[3].Error == "" {
		t.Errorf("read back %+v", got)
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.6: "1,234,568", 100000: "100,000"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %s, want %s", v, got, want)
		}
	}
}
