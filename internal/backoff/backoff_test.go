package backoff

import (
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func TestWaitsDoubleUpToTheMaxWithJitterInTheUpperHalf(t *testing.T) {
	b := New(Config{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond})
	for i, bound := range []time.Duration{100, 200, 400, 400, 400} {
		bound *= time.Millisecond
		if w := b.Next(); w < bound/2 || w > bound {
			t.Errorf("wait %d: %s, want within [%s, %s]", i, w, bound/2, bound)
		}
	}
	b.Reset()
	if w := b.Next(); w > 100*time.Millisecond {
		t.Errorf("after Reset: %s", w)
	}
}

func TestParseNamesTheField(t *testing.T) {
	spec := service.NewConfigSpec().Field(Spec("retry", "1s", "10s", "d"))
	for yaml, want := range map[string]string{
		"retry: {initial_interval: 2s, max_interval: 1s}": "retry: need 0 < initial_interval <= max_interval",
		"retry: {initial_interval: 0s}":                   "retry: need 0 < initial_interval <= max_interval",
	} {
		conf, err := spec.ParseYAML(yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(conf, "retry"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
	conf, _ := spec.ParseYAML("{}", nil)
	if c, err := Parse(conf, "retry"); err != nil || c != (Config{time.Second, 10 * time.Second}) {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}
