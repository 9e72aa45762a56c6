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
	// The amplitude_cohort_webhook and amplitude_cohort_export inputs and the
	// amplitude_cohort_to_braze processor: Amplitude cohorts into Braze.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/amplitudecohorts"
	// The currents_avro scanner, for Braze's Avro storage exports.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/avroscan"
	// The braze_currents input, for Braze's Custom HTTP connector.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/brazehttp"
	// The braze_users_track output, Braze's POST /users/track.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/brazetrack"
	// The currents_archive input and its dead-letter counter, for backfills
	// from Braze's storage export.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/currentsarchive"
	// The currents_jsonl scanner, for files of Currents events and Braze bodies.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/currentsjson"
	// The currents_to_amplitude processor and Bloblang method.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/mapping"
)
