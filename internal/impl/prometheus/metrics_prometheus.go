// Package prometheus is the `prometheus` metrics exporter of this project's
// binary (see Register): Benthos metrics served in the Prometheus text format
// at the HTTP server's /metrics and /stats endpoints, and optionally pushed to
// a Pushgateway.
package prometheus

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/redpanda-data/benthos/v4/public/service"
)

const (
	fieldPrefix            = "prefix"
	fieldHistogramBuckets  = "histogram_buckets"
	fieldAddProcessMetrics = "add_process_metrics"
	fieldAddGoMetrics      = "add_go_metrics"
	fieldPushURL           = "push_url"
	fieldPushInterval      = "push_interval"
	fieldPushJobName       = "push_job_name"
)

// finalPushTimeout bounds the push made on Close: Benthos closes exporters
// with a background context, and an unreachable Pushgateway must not hang
// shutdown.
const finalPushTimeout = 10 * time.Second

// defaultBuckets, in seconds, span a sub-millisecond processor step up to an
// Amplitude batch request that is retried for a while.
var defaultBuckets = []any{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0}

func configSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Summary("Serves metrics in the Prometheus text format at the HTTP server's `/metrics` and `/stats` endpoints.").
		Description(`
Counters and gauges keep their Benthos names. Timers become histograms in seconds: a trailing `+"`_ns`"+` is replaced by `+"`_seconds`"+` (`+"`output_latency_ns`"+` is exported as `+"`output_latency_seconds`"+`) and any other timer name gets `+"`_seconds`"+` appended.

Characters Prometheus does not allow in metric and label names (anything but letters, digits and underscores, e.g. dots and dashes) become underscores, and a name starting with a digit gets a leading underscore.

The HTTP server must be enabled (`+"`http.enabled`"+`, the default when running the binary) for the endpoints to be served.

Set `+"`push_url`"+` to also push to a Prometheus Pushgateway, which suits short-lived runs: every `+"`push_interval`"+` if set, and always once on shutdown. Each push replaces everything pushed before under the same job name, so give every instance its own `+"`push_job_name`"+`.`).
		Fields(
			service.NewStringField(fieldPrefix).
				Description("Prepended to every metric name, joined with an underscore: `ca` gives `ca_output_sent`. Does not apply to the Go and process metrics.").
				Default(""),
			service.NewFloatListField(fieldHistogramBuckets).
				Description("Upper bounds, in seconds and strictly increasing, of the histogram buckets that timers are observed into. A `+Inf` bucket is always added.").
				Default(defaultBuckets),
			service.NewBoolField(fieldAddProcessMetrics).
				Description("Also export the process metrics of the Prometheus client (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...).").
				Default(false),
			service.NewBoolField(fieldAddGoMetrics).
				Description("Also export the Go runtime metrics of the Prometheus client (`go_goroutines`, `go_memstats_*`, ...).").
				Default(false),
			service.NewStringField(fieldPushURL).
				Description("The Pushgateway to push to, e.g. `http://pushgateway:9091`, without the `/metrics/job/...` path. Empty turns pushing off.").
				Optional().
				Advanced(),
			service.NewDurationField(fieldPushInterval).
				Description("How often to push while running. Without it metrics are pushed only on shutdown. Requires `push_url`.").
				Optional().
				Advanced(),
			service.NewStringField(fieldPushJobName).
				Description("The job name metrics are pushed under.").
				Default("connect_amplitude").
				Advanced(),
		)
}

// Register adds the prometheus exporter to env. Only this project's binary
// calls it: a Redpanda Connect build has its own prometheus exporter, which a
// registration from the plugin package would silently replace.
func Register(env *service.Environment) error {
	return env.RegisterMetricsExporter("prometheus", configSpec(),
		func(conf *service.ParsedConfig, log *service.Logger) (service.MetricsExporter, error) {
			return newExporter(conf, log)
		})
}

type exporter struct {
	log     *service.Logger
	reg     *prom.Registry
	handler http.Handler
	prefix  string
	buckets []float64

	mu   sync.Mutex
	vecs map[string]registered // by exported name

	pusher   *push.Pusher // nil without push_url
	stopLoop func()       // stops the periodic pusher; nil without push_interval
}

// registered is a vec with the label keys it was created with, so that a
// second registration of the name can be checked against the first.
type registered struct {
	vec       prom.Collector
	labelKeys []string
}

func newExporter(conf *service.ParsedConfig, log *service.Logger) (*exporter, error) {
	e := &exporter{
		log:  log,
		reg:  prom.NewRegistry(), // not the default one, so exporters never share series
		vecs: map[string]registered{},
	}
	e.handler = promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{})

	var err error
	if e.prefix, err = conf.FieldString(fieldPrefix); err != nil {
		return nil, err
	}
	if e.buckets, err = conf.FieldFloatList(fieldHistogramBuckets); err != nil {
		return nil, err
	}
	if len(e.buckets) == 0 {
		return nil, fmt.Errorf("%s must not be empty", fieldHistogramBuckets)
	}
	for i := 1; i < len(e.buckets); i++ {
		if e.buckets[i] <= e.buckets[i-1] {
			return nil, fmt.Errorf("%s must be strictly increasing, got %v", fieldHistogramBuckets, e.buckets)
		}
	}

	processMetrics, err := conf.FieldBool(fieldAddProcessMetrics)
	if err != nil {
		return nil, err
	}
	if processMetrics {
		e.reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	goMetrics, err := conf.FieldBool(fieldAddGoMetrics)
	if err != nil {
		return nil, err
	}
	if goMetrics {
		e.reg.MustRegister(collectors.NewGoCollector())
	}

	if err := e.initPush(conf); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *exporter) initPush(conf *service.ParsedConfig) error {
	var url string
	if conf.Contains(fieldPushURL) {
		var err error
		if url, err = conf.FieldString(fieldPushURL); err != nil {
			return err
		}
	}
	// Empty counts as unset, so that `push_url: ${PUSH_URL:}` turns pushing
	// off when the variable is not set.
	if url == "" {
		if conf.Contains(fieldPushInterval) {
			return fmt.Errorf("%s requires %s", fieldPushInterval, fieldPushURL)
		}
		return nil
	}
	job, err := conf.FieldString(fieldPushJobName)
	if err != nil {
		return err
	}
	e.pusher = push.New(url, job).Gatherer(e.reg)
	if err := e.pusher.Error(); err != nil { // an empty job name
		return fmt.Errorf("%s: %w", fieldPushJobName, err)
	}

	if !conf.Contains(fieldPushInterval) {
		return nil
	}
	interval, err := conf.FieldDuration(fieldPushInterval)
	if err != nil {
		return err
	}
	if interval <= 0 {
		return fmt.Errorf("%s must be positive, got %v", fieldPushInterval, interval)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go e.pushEvery(ctx, interval, done)
	e.stopLoop = func() {
		cancel()
		<-done
	}
	return nil
}

func (e *exporter) pushEvery(ctx context.Context, interval time.Duration, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A push slower than the interval is abandoned rather than let
			// pushes queue up behind it.
			pctx, cancel := context.WithTimeout(ctx, interval)
			if err := e.pusher.PushContext(pctx); err != nil && ctx.Err() == nil {
				e.log.Warnf("prometheus: push to Pushgateway failed: %v", err)
			}
			cancel()
		}
	}
}

// HandlerFunc is mounted by Benthos' HTTP server at /metrics and /stats.
func (e *exporter) HandlerFunc() http.HandlerFunc {
	return e.handler.ServeHTTP
}

// Close stops the periodic pusher and pushes one last time, so that a run
// shorter than push_interval is still recorded.
func (e *exporter) Close(ctx context.Context) error {
	if e.stopLoop != nil {
		e.stopLoop()
	}
	if e.pusher == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, finalPushTimeout)
	defer cancel()
	if err := e.pusher.PushContext(ctx); err != nil {
		return fmt.Errorf("final push to Pushgateway: %w", err)
	}
	return nil
}

func (e *exporter) NewCounterCtor(name string, labelKeys ...string) service.MetricsExporterCounterCtor {
	cv, err := register(e, e.metricName(name), labelKeys, func(opts prom.Opts, keys []string) *prom.CounterVec {
		opts.Help = "Benthos counter " + name + "."
		return prom.NewCounterVec(prom.CounterOpts(opts), keys)
	})
	if err != nil {
		e.log.Errorf("prometheus: counter %s is not exported: %v", name, err)
		return func(...string) service.MetricsExporterCounter { return discard{} }
	}
	return bind[prom.Counter, service.MetricsExporterCounter](e.log, name, cv.GetMetricWithLabelValues,
		func(c prom.Counter) service.MetricsExporterCounter { return counter{c} }, discard{})
}

func (e *exporter) NewGaugeCtor(name string, labelKeys ...string) service.MetricsExporterGaugeCtor {
	gv, err := register(e, e.metricName(name), labelKeys, func(opts prom.Opts, keys []string) *prom.GaugeVec {
		opts.Help = "Benthos gauge " + name + "."
		return prom.NewGaugeVec(prom.GaugeOpts(opts), keys)
	})
	if err != nil {
		e.log.Errorf("prometheus: gauge %s is not exported: %v", name, err)
		return func(...string) service.MetricsExporterGauge { return discard{} }
	}
	return bind[prom.Gauge, service.MetricsExporterGauge](e.log, name, gv.GetMetricWithLabelValues,
		func(g prom.Gauge) service.MetricsExporterGauge { return gauge{g} }, discard{})
}

func (e *exporter) NewTimerCtor(name string, labelKeys ...string) service.MetricsExporterTimerCtor {
	hv, err := register(e, e.metricName(timerName(name)), labelKeys, func(opts prom.Opts, keys []string) *prom.HistogramVec {
		return prom.NewHistogramVec(prom.HistogramOpts{
			Name:    opts.Name,
			Help:    "Benthos timer " + name + ", in seconds.",
			Buckets: e.buckets,
		}, keys)
	})
	if err != nil {
		e.log.Errorf("prometheus: timer %s is not exported: %v", name, err)
		return func(...string) service.MetricsExporterTimer { return discard{} }
	}
	return bind[prom.Observer, service.MetricsExporterTimer](e.log, name, hv.GetMetricWithLabelValues,
		func(o prom.Observer) service.MetricsExporterTimer { return timer{o} }, discard{})
}

// register returns the vec exported as name, creating it on first use.
// Benthos asks for the same metric once per component (every output asks for
// output_sent), and they must all share one vec: the registry refuses a
// second collector with the same name.
func register[V prom.Collector](e *exporter, name string, labelKeys []string, newVec func(prom.Opts, []string) V) (V, error) {
	keys := make([]string, len(labelKeys))
	for i, k := range labelKeys {
		keys[i] = sanitise(k)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.vecs[name]; ok {
		v, sameKind := r.vec.(V)
		if !sameKind || !slices.Equal(r.labelKeys, keys) {
			var zero V
			return zero, fmt.Errorf("%s is already exported as a %T with labels %v", name, r.vec, r.labelKeys)
		}
		return v, nil
	}
	v := newVec(prom.Opts{Name: name}, keys)
	if err := e.reg.Register(v); err != nil {
		var zero V
		return zero, err
	}
	e.vecs[name] = registered{vec: v, labelKeys: keys}
	return v, nil
}

// bind returns the constructor Benthos calls with label values. Prometheus
// rejects a wrong number of values or invalid UTF-8; that series is dropped
// and logged rather than let a metric fail the pipeline.
func bind[M, R any](log *service.Logger, name string, get func(...string) (M, error), wrap func(M) R, drop R) func(...string) R {
	return func(labelValues ...string) R {
		m, err := get(labelValues...)
		if err != nil {
			log.Errorf("prometheus: metric %s with label values %q is not exported: %v", name, labelValues, err)
			return drop
		}
		return wrap(m)
	}
}

func (e *exporter) metricName(name string) string {
	if e.prefix != "" {
		name = e.prefix + "_" + name
	}
	return sanitise(name)
}

// timerName names a timer after the unit it is exported in: Benthos times in
// nanoseconds (output_latency_ns) but the histogram observes seconds.
func timerName(name string) string {
	if strings.HasSuffix(name, "_seconds") {
		return name
	}
	return strings.TrimSuffix(name, "_ns") + "_seconds"
}

// sanitise maps a Benthos name onto [a-zA-Z_][a-zA-Z0-9_]*, which is valid
// both as a Prometheus metric name and as a label name.
func sanitise(name string) string {
	s := strings.Map(func(r rune) rune {
		if r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, name)
	if s != "" && '0' <= s[0] && s[0] <= '9' {
		s = "_" + s
	}
	return s
}

type counter struct{ c prom.Counter }

// Incr ignores negative counts: a Prometheus counter only goes up, and its
// Add panics otherwise.
func (c counter) Incr(n int64) {
	if n > 0 {
		c.c.Add(float64(n))
	}
}

func (c counter) IncrFloat64(n float64) {
	if n > 0 {
		c.c.Add(n)
	}
}

type gauge struct{ g prom.Gauge }

func (g gauge) Set(v int64)          { g.g.Set(float64(v)) }
func (g gauge) SetFloat64(v float64) { g.g.Set(v) }

type timer struct{ o prom.Observer }

// Timing takes nanoseconds, as every Benthos timer does.
func (t timer) Timing(ns int64) { t.o.Observe(time.Duration(ns).Seconds()) }

// discard stands in for a metric that could not be exported.
type discard struct{}

func (discard) Incr(int64)   {}
func (discard) Set(int64)    {}
func (discard) Timing(int64) {}
