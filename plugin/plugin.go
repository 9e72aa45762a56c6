// Package plugin registers every connect-amplitude component with Benthos,
// and nothing else: components that Redpanda Connect already has under the
// same names (kafka_franz, prometheus) are registered by this project's
// binary only, since Benthos silently replaces a name registered twice.
// Import it for its side effects, in this project's binary or in a custom
// Redpanda Connect build:
//
//	import _ "github.com/connect-amplitude/connect-amplitude/plugin"
package plugin

import (
	// The amplitude output.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/amplitude"
	// The currents_avro scanner, for Braze's Avro storage exports.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/avroscan"
	// The braze_currents input, for Braze's Custom HTTP connector.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/brazehttp"
	// The currents_archive input and its dead-letter counter, for backfills
	// from Braze's storage export.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/currentsarchive"
	// The currents_jsonl scanner, for files of Currents events and Braze bodies.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/currentsjson"
	// The currents_to_amplitude processor and Bloblang method.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/mapping"
)
