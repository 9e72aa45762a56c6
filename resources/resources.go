// Package resources holds the data files compiled into the binary.
package resources

import _ "embed"

// EventTable is braze-amplitude-events.json: per Currents event type, the
// Amplitude event name and the top-level fields Braze's own export sends.
//
//go:embed braze-amplitude-events.json
var EventTable []byte

// CurrentsSamples holds one Currents event per line, one per event type, as
// Braze's Custom HTTP connector sends it: written by this project, with the
// fields Braze documents for each event type; the values are made up. The
// generator of demo and benchmark events starts from these shapes.
//
//go:embed currents-samples.jsonl
var CurrentsSamples []byte
