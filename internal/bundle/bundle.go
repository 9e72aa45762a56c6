// Package bundle assembles the environment of this project's binary: the
// host's pure and io components, every component of the plugin package, and
// the Redpanda Connect components its configs use (prometheus, kafka_franz),
// which only the binary registers: Benthos silently replaces a name
// registered twice, so the plugin package must not register names a
// Redpanda Connect build already has.
package bundle

import (
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/connect-amplitude/connect-amplitude/internal/impl/kafka"
	"github.com/connect-amplitude/connect-amplitude/internal/impl/prometheus"
	_ "github.com/connect-amplitude/connect-amplitude/plugin"
)

// Component names one component by its kind, as `connect-amplitude list`
// spells kinds in the singular: input, output, processor, scanner, metrics,
// bloblang-method.
type Component struct{ Kind, Name string }

// Plugin lists what the plugin package registers, in the order the docs
// present them.
var Plugin = []Component{
	{"processor", "currents_to_amplitude"},
	{"bloblang-method", "currents_to_amplitude"},
	{"output", "amplitude"},
	{"input", "braze_currents"},
	{"scanner", "currents_jsonl"},
	{"scanner", "currents_avro"},
	{"input", "amplitude_cohort_webhook"},
	{"input", "amplitude_cohort_export"},
	{"processor", "amplitude_cohort_to_braze"},
	{"output", "braze_users_track"},
	{"input", "currents_archive"},
	{"processor", "currents_archive_dead_letter"},
}

// binaryOnly are this project's implementations of components that Redpanda
// Connect also has, under the same names and fields.
var binaryOnly = []struct {
	Component
	register func(*service.Environment) error
}{
	{Component{"metrics", "prometheus"}, prometheus.Register},
	{Component{"input", "kafka_franz"}, kafka.Register},
	{Component{"output", "kafka_franz"}, nil}, // registered with the input
}

// Own is every component this project defines.
func Own() []Component {
	own := append([]Component{}, Plugin...)
	for _, b := range binaryOnly {
		own = append(own, b.Component)
	}
	return own
}

// Environment registers the binary-only components in the global
// environment and returns it, for the binary's main (and its docs and
// tests) only: never call it in a process that embeds Redpanda Connect.
// A clone would keep them out of the global environment, but benthos
// v4.60.0 resolves `--set` paths and walks metrics exporters in the global
// one whatever the CLI's environment (internal/config/reader.go
// applyOverrides; Environment.WalkMetrics), so their fields could not be
// set from the command line nor their docs generated.
// It registers them once however often it is called.
var Environment = sync.OnceValues(func() (*service.Environment, error) {
	env := service.GlobalEnvironment()
	for _, b := range binaryOnly {
		if b.register == nil {
			continue
		}
		if err := b.register(env); err != nil {
			return nil, err
		}
	}
	return env, nil
})
