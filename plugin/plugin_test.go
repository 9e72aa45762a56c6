package plugin_test

import (
	"slices"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/connect-amplitude/connect-amplitude/plugin"
)

// A Redpanda Connect build that imports the plugin package must gain only
// this project's own names: a name it registered twice would silently
// replace Connect's component (kafka_franz, prometheus...). This test binary
// imports nothing else that registers components, so the global environment
// holds exactly what the plugin package registers.
func TestThePluginPackageRegistersExactlyTheProjectsOwnComponents(t *testing.T) {
	env := service.GlobalEnvironment()
	got := map[string][]string{}
	collect := func(kind string) func(string, *service.ConfigView) {
		return func(name string, _ *service.ConfigView) { got[kind] = append(got[kind], name) }
	}
	env.WalkBuffers(collect("buffer"))
	env.WalkCaches(collect("cache"))
	env.WalkInputs(collect("input"))
	env.WalkOutputs(collect("output"))
	env.WalkProcessors(collect("processor"))
	env.WalkRateLimits(collect("rate_limit"))
	env.WalkMetrics(collect("metrics"))
	env.WalkTracers(collect("tracer"))
	env.WalkScanners(collect("scanner"))
	bloblang.GlobalEnvironment().WalkMethods(func(name string, _ *bloblang.MethodView) {
		got["bloblang_method"] = append(got["bloblang_method"], name)
	})
	want := map[string][]string{
		"input":           {"amplitude_cohort_export", "amplitude_cohort_webhook", "braze_currents", "currents_archive"},
		"output":          {"amplitude", "braze_users_track"},
		"processor":       {"amplitude_cohort_to_braze", "currents_archive_dead_letter", "currents_to_amplitude"},
		"scanner":         {"currents_avro", "currents_jsonl"},
		"bloblang_method": {"currents_to_amplitude"},
	}
	// Bloblang's own methods are always there; only ours are compared.
	got["bloblang_method"] = slices.DeleteFunc(got["bloblang_method"], func(name string) bool {
		return !slices.Contains(want["bloblang_method"], name)
	})
	for kind := range merge(got, want) {
		g, w := slices.Sorted(slices.Values(got[kind])), want[kind]
		if !slices.Equal(g, w) {
			t.Errorf("%s: registered %q, want %q", kind, g, w)
		}
	}
}

func merge(a, b map[string][]string) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}
