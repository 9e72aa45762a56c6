// Package resources holds the data files compiled into the binary.
package resources

import _ "embed"

// EventTable is braze-amplitude-events.json: per Currents event type, the
// Amplitude event name and the top-level fields Braze's own export sends.
//
//go:embed braze-amplitude-events.json
var EventTable []byte

// CurrentsSamples holds one Currents event per line, one per event type: the
// Custom HTTP examples of Braze's public currents-examples repository. The
// generator of demo and benchmark events starts from these shapes.
//
//go:embed currents-samples.jsonl
var CurrentsSamples []byte
