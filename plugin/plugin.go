// Package plugin registers every connect-amplitude component with Benthos.
// Import it for its side effects, in this project's binary or in a custom
// Redpanda Connect build:
//
//	import _ "github.com/connect-amplitude/connect-amplitude/plugin"
package plugin

import (
	// The currents_to_amplitude Bloblang method.
	_ "github.com/connect-amplitude/connect-amplitude/plugin/mapping"
)
