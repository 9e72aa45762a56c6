package prometheus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

func newTestExporter(t *testing.T, config string) *exporter {
	t.Helper()
	conf, err := configSpec().ParseYAML(config, nil)
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	e, err := newExporter(conf, nil)
	if err != nil {
		t.Fatalf("new exporter: %v", err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

// scrape returns what a GET of the exporter's /metrics endpoint serves.
func scrape(t *testing.T, e *exporter) string {
	t.Helper()
	rec := httptest.NewRecorder()
	e.HandlerFunc()(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// checkExposition fails unless every want is a whole line of body and no
// absent string occurs anywhere in it.
func checkExposition(t *testing.T, body string, want, absent []string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		lines[l] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("exposition lacks line %q", w)
		}
	}
	for _, a := range absent {
		if strings.Contains(body, a) {
			t.Errorf("exposition contains %q", a)
		}
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", body)
	}
}

const ms = int64(time.Millisecond)

func TestExposition(t *testing.T) {
	tests := []struct {
		name   string
		config string
		record func(e *exporter)
		want   []string // whole lines of the exposition
		absent []string // substrings the exposition must not contain
	}{
		{
			name: "counter without labels adds up increments",
			record: func(e *exporter) {
				c := e.NewCounterCtor("output_sent")()
				c.Incr(2)
				c.Incr(3)
			},
			want: []string{"# TYPE output_sent counter", "output_sent 5"},
		},
		{
			name: "counter with labels keeps one series per label values",
			record: func(e *exporter) {
				ctor := e.NewCounterCtor("output_sent", "label", "path")
				ctor("amplitude", "root.output").Incr(1)
				ctor("dead_letter", "root.output").Incr(4)
			},
			want: []string{
				`output_sent{label="amplitude",path="root.output"} 1`,
				`output_sent{label="dead_letter",path="root.output"} 4`,
			},
		},
		{
			name: "counter takes decimal increments",
			record: func(e *exporter) {
				c := e.NewCounterCtor("bytes")().(counter)
				c.Incr(1)
				c.IncrFloat64(1.25)
			},
			want: []string{"bytes 2.25"},
		},
		{
			name: "counter ignores negative increments",
			record: func(e *exporter) {
				c := e.NewCounterCtor("output_sent")().(counter)
				c.Incr(3)
				c.Incr(-1)
				c.IncrFloat64(-0.5)
			},
			want: []string{"output_sent 3"},
		},
		{
			name: "gauge keeps the last value set",
			record: func(e *exporter) {
				g := e.NewGaugeCtor("input_connection_up")()
				g.Set(7)
				g.Set(3)
			},
			want: []string{"# TYPE input_connection_up gauge", "input_connection_up 3"},
		},
		{
			name: "gauge takes decimal values",
			record: func(e *exporter) {
				e.NewGaugeCtor("ratio")().(gauge).SetFloat64(0.75)
			},
			want: []string{"ratio 0.75"},
		},
		{
			name: "gauge with labels keeps one series per label values",
			record: func(e *exporter) {
				ctor := e.NewGaugeCtor("backlog", "stream")
				ctor("a").Set(1)
				ctor("b").Set(2)
			},
			want: []string{`backlog{stream="a"} 1`, `backlog{stream="b"} 2`},
		},
		{
			name:   "timer observes nanoseconds as seconds in a histogram named _seconds",
			config: `histogram_buckets: [0.1, 1]`,
			record: func(e *exporter) {
				tm := e.NewTimerCtor("output_latency_ns")()
				tm.Timing(250 * ms)
				tm.Timing(250 * ms)
				tm.Timing(2000 * ms)
			},
			want: []string{
				"# TYPE output_latency_seconds histogram",
				`output_latency_seconds_bucket{le="0.1"} 0`,
				`output_latency_seconds_bucket{le="1"} 2`,
				`output_latency_seconds_bucket{le="+Inf"} 3`,
				"output_latency_seconds_sum 2.5",
				"output_latency_seconds_count 3",
			},
			absent: []string{"output_latency_ns_bucket", "# TYPE output_latency_ns"},
		},
		{
			name:   "timer with labels puts them before le",
			config: `histogram_buckets: [1]`,
			record: func(e *exporter) {
				e.NewTimerCtor("processor_latency_ns", "label")("mapping").Timing(5 * ms)
			},
			want: []string{
				`processor_latency_seconds_bucket{label="mapping",le="1"} 1`,
				`processor_latency_seconds_count{label="mapping"} 1`,
			},
		},
		{
			name: "timer without _ns gets _seconds appended unless it has it",
			record: func(e *exporter) {
				e.NewTimerCtor("timerone")().Timing(ms)
				e.NewTimerCtor("request_seconds")().Timing(ms)
			},
			want:   []string{"timerone_seconds_count 1", "request_seconds_count 1"},
			absent: []string{"request_seconds_seconds"},
		},
		{
			name: "default buckets run from 1ms to 30s",
			record: func(e *exporter) {
				e.NewTimerCtor("output_latency_ns")().Timing(40_000 * ms)
			},
			want: []string{
				`output_latency_seconds_bucket{le="0.001"} 0`,
				`output_latency_seconds_bucket{le="0.1"} 0`,
				`output_latency_seconds_bucket{le="1"} 0`,
				`output_latency_seconds_bucket{le="30"} 0`,
				`output_latency_seconds_bucket{le="+Inf"} 1`,
			},
		},
		{
			name:   "prefix is joined to every name with an underscore",
			config: `prefix: ca`,
			record: func(e *exporter) {
				e.NewCounterCtor("output_sent")().Incr(1)
				e.NewGaugeCtor("output_connection_up")().Set(1)
				e.NewTimerCtor("output_latency_ns")().Timing(ms)
			},
			want: []string{
				"ca_output_sent 1",
				"ca_output_connection_up 1",
				"ca_output_latency_seconds_count 1",
			},
		},
		{
			name:   "dots and dashes become underscores in prefix, names and label keys",
			config: `prefix: my-app`,
			record: func(e *exporter) {
				e.NewCounterCtor("amplitude.http-requests", "status.code")("200").Incr(1)
			},
			want: []string{`my_app_amplitude_http_requests{status_code="200"} 1`},
		},
		{
			name: "name starting with a digit gets a leading underscore",
			record: func(e *exporter) {
				e.NewCounterCtor("5xx.responses")().Incr(1)
			},
			want: []string{"_5xx_responses 1"},
		},
		{
			name: "label values are kept as they are",
			record: func(e *exporter) {
				e.NewCounterCtor("output_sent", "path")("root.output.broker-1").Incr(1)
			},
			want: []string{`output_sent{path="root.output.broker-1"} 1`},
		},
		{
			name: "same name and label keys registered twice share one series",
			record: func(e *exporter) {
				e.NewCounterCtor("output_sent", "label")("out").Incr(2)
				e.NewCounterCtor("output_sent", "label")("out").Incr(3)
			},
			want: []string{`output_sent{label="out"} 5`},
		},
		{
			name: "names equal once sanitised share one series",
			record: func(e *exporter) {
				e.NewCounterCtor("output.sent")().Incr(2)
				e.NewCounterCtor("output_sent")().Incr(3)
			},
			want: []string{"output_sent 5"},
		},
		{
			name: "same name as another kind is not exported and leaves the first alone",
			record: func(e *exporter) {
				e.NewCounterCtor("clash")().Incr(2)
				e.NewGaugeCtor("clash")().Set(9)
			},
			want:   []string{"# TYPE clash counter", "clash 2"},
			absent: []string{"clash 9"},
		},
		{
			name: "same name with other label keys is not exported and leaves the first alone",
			record: func(e *exporter) {
				e.NewCounterCtor("clash", "a")("1").Incr(1)
				e.NewCounterCtor("clash", "b")("2").Incr(1)
			},
			want:   []string{`clash{a="1"} 1`},
			absent: []string{`b="2"`},
		},
		{
			name: "wrong number of label values is dropped instead of panicking",
			record: func(e *exporter) {
				ctor := e.NewCounterCtor("output_sent", "label", "path")
				ctor("only_one").Incr(1)
				ctor("out", "root.output").Incr(1)
			},
			want:   []string{`output_sent{label="out",path="root.output"} 1`},
			absent: []string{"only_one"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestExporter(t, tt.config)
			tt.record(e)
			checkExposition(t, scrape(t, e), tt.want, tt.absent)
		})
	}
}

func TestRuntimeMetrics(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   []string
		absent []string
	}{
		{
			name:   "are off by default",
			absent: []string{"go_goroutines", "process_cpu_seconds_total"},
		},
		{
			name:   "add_go_metrics exports Go runtime metrics without the prefix",
			config: "add_go_metrics: true\nprefix: ca",
			want:   []string{"# TYPE go_goroutines gauge"},
			absent: []string{"ca_go_", "process_cpu_seconds_total"},
		},
		{
			name:   "add_process_metrics exports process metrics",
			config: "add_process_metrics: true",
			want:   []string{"# TYPE process_cpu_seconds_total counter"},
			absent: []string{"go_goroutines"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkExposition(t, scrape(t, newTestExporter(t, tt.config)), tt.want, tt.absent)
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		wantErr string
	}{
		{"empty histogram_buckets", `histogram_buckets: []`, "must not be empty"},
		{"decreasing histogram_buckets", `histogram_buckets: [1, 0.5]`, "strictly increasing"},
		{"repeated histogram_bucket", `histogram_buckets: [0.5, 0.5]`, "strictly increasing"},
		{"push_interval without push_url", `push_interval: 10s`, "push_interval requires push_url"},
		{"push_interval that is not a duration", "push_url: http://127.0.0.1:1\npush_interval: soon", "soon"},
		{"push_interval with an empty push_url", "push_url: \"\"\npush_interval: 10s", "push_interval requires push_url"},
		{"empty push_job_name", "push_url: http://127.0.0.1:1\npush_job_name: \"\"", "push_job_name"},
		{"push_interval of zero", "push_url: http://127.0.0.1:1\npush_interval: 0s", "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := configSpec().ParseYAML(tt.config, nil)
			if err != nil {
				t.Fatalf("parse config: %v", err)
			}
			e, err := newExporter(conf, nil)
			if err == nil {
				_ = e.Close(context.Background())
				t.Fatalf("want error containing %q, got none", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("want error containing %q, got %v", tt.wantErr, err)
			}
		})
	}
}

func TestExportersDoNotShareSeries(t *testing.T) {
	a, b := newTestExporter(t, ""), newTestExporter(t, "")
	a.NewCounterCtor("output_sent")().Incr(1)
	b.NewCounterCtor("output_sent")().Incr(2)
	checkExposition(t, scrape(t, a), []string{"output_sent 1"}, nil)
	checkExposition(t, scrape(t, b), []string{"output_sent 2"}, nil)
}

// pushgateway records the pushes it receives.
type pushgateway struct {
	*httptest.Server
	mu     sync.Mutex
	pushes []pushed
	status int
}

type pushed struct {
	method, path string
	families     map[string]*dto.MetricFamily
}

func newPushgateway(t *testing.T, status int) *pushgateway {
	g := &pushgateway{status: status}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read push: %v", err)
		}
		p := pushed{method: r.Method, path: r.URL.Path, families: map[string]*dto.MetricFamily{}}
		dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.ResponseFormat(r.Header))
		for {
			mf := &dto.MetricFamily{}
			if err := dec.Decode(mf); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Errorf("decode push: %v", err)
				break
			}
			p.families[mf.GetName()] = mf
		}
		g.mu.Lock()
		g.pushes = append(g.pushes, p)
		g.mu.Unlock()
		w.WriteHeader(g.status)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *pushgateway) received() []pushed {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]pushed(nil), g.pushes...)
}

// counterValue is the value of the unlabelled counter name in a push.
func (p pushed) counterValue(name string) float64 {
	mf := p.families[name]
	if mf == nil || len(mf.GetMetric()) != 1 {
		return -1
	}
	return mf.GetMetric()[0].GetCounter().GetValue()
}

func TestPushgateway(t *testing.T) {
	t.Run("pushes every push_interval and once more on close", func(t *testing.T) {
		gw := newPushgateway(t, http.StatusOK)
		e := newTestExporter(t, "push_url: "+gw.URL+"\npush_interval: 10ms\npush_job_name: amplitude-1")
		c := e.NewCounterCtor("output_sent")()
		c.Incr(1)

		deadline := time.Now().Add(5 * time.Second)
		for len(gw.received()) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("got %d periodic pushes in 5s, want 2", len(gw.received()))
			}
			time.Sleep(5 * time.Millisecond)
		}
		c.Incr(41)
		if err := e.Close(context.Background()); err != nil {
			t.Fatalf("close: %v", err)
		}

		pushes := gw.received()
		for _, p := range pushes {
			if p.method != http.MethodPut || p.path != "/metrics/job/amplitude-1" {
				t.Errorf("push %s %s, want PUT /metrics/job/amplitude-1", p.method, p.path)
			}
		}
		if got := pushes[len(pushes)-1].counterValue("output_sent"); got != 42 {
			t.Errorf("last push has output_sent %v, want 42", got)
		}
		time.Sleep(50 * time.Millisecond)
		if after := len(gw.received()); after != len(pushes) {
			t.Errorf("%d pushes after close, want none", after-len(pushes))
		}
	})

	t.Run("without push_interval pushes only on close", func(t *testing.T) {
		gw := newPushgateway(t, http.StatusOK)
		e := newTestExporter(t, "push_url: "+gw.URL)
		e.NewCounterCtor("output_sent")().Incr(5)
		if n := len(gw.received()); n != 0 {
			t.Fatalf("%d pushes before close, want none", n)
		}
		if err := e.Close(context.Background()); err != nil {
			t.Fatalf("close: %v", err)
		}
		pushes := gw.received()
		if len(pushes) != 1 {
			t.Fatalf("%d pushes on close, want 1", len(pushes))
		}
		if pushes[0].path != "/metrics/job/connect_amplitude" {
			t.Errorf("pushed to %s, want the default job /metrics/job/connect_amplitude", pushes[0].path)
		}
		if got := pushes[0].counterValue("output_sent"); got != 5 {
			t.Errorf("push has output_sent %v, want 5", got)
		}
	})

	t.Run("an empty push_url turns pushing off", func(t *testing.T) {
		e := newTestExporter(t, `push_url: ""`)
		if e.pusher != nil {
			t.Fatal("pusher set up for an empty push_url")
		}
	})

	t.Run("a failed final push is returned by close", func(t *testing.T) {
		gw := newPushgateway(t, http.StatusInternalServerError)
		e := newTestExporter(t, "push_url: "+gw.URL)
		if err := e.Close(context.Background()); err == nil || !strings.Contains(err.Error(), "final push") {
			t.Fatalf("close: got %v, want a final push error", err)
		}
	})
}
