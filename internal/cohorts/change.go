// Package cohorts holds the rules of Amplitude's cohort payloads and of
// their mapping to Braze: the Cohort Webhooks delivery and its checks, the
// membership-change record both cohort inputs emit, the name Braze shows
// for an Amplitude cohort, the membership diff of the polling path, the
// Behavioral Cohorts export file, the sync state, and the deduplication of
// retried deliveries. It does no I/O.
//
// Sources:
//   - Amplitude Cohort Webhooks destination:
//     https://amplitude.com/docs/data/destination-catalog/cohort-webhooks
//   - Amplitude Behavioral Cohorts API:
//     https://amplitude.com/docs/apis/analytics/behavioral-cohorts
//   - Braze's Amplitude partner page (the cohort naming), in this
//     repository's seed: `[Amplitude] TEST_COHORT: abcd1234`.
//   - Braze user attributes object:
//     https://www.braze.com/docs/api/objects_filters/user_attributes_object/
package cohorts

import (
	"encoding/json"
	"fmt"
)

// Change is one user entering or leaving one cohort: the record, one per
// message, that the amplitude_cohort_webhook and amplitude_cohort_export
// inputs emit and the amplitude_cohort_to_braze processor maps.
type Change struct {
	CohortID   string `json:"cohort_id"`
	CohortName string `json:"cohort_name"`
	InCohort   bool   `json:"in_cohort"`
	UserID     string `json:"user_id,omitempty"`
	// DeviceID is set only for a user with no user_id whose device id the
	// source gave (see Mapping for what becomes of them).
	DeviceID string `json:"device_id,omitempty"`
	// MessageID is the webhook delivery's message_id, or for the polling
	// input "export:<cohort_id>:<request_id>".
	MessageID string `json:"message_id"`
	// ComputedTime is when Amplitude computed the membership, Unix seconds
	// as Amplitude writes them (a string); "" when unknown.
	ComputedTime string `json:"computed_time,omitempty"`
}

// Marshal is the record as JSON.
func (c Change) Marshal() []byte {
	b, _ := json.Marshal(c) // strings and a bool: cannot fail
	return b
}

// ParseChange reads a record; an error names the field at fault.
func ParseChange(raw []byte) (Change, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Change{}, fmt.Errorf("a cohort membership change must be a JSON object: %w", err)
	}
	c, err := readCohort(fields)
	if err != nil {
		return c, err
	}
	if c.UserID, err = optionalString(fields, "user_id"); err != nil {
		return c, err
	}
	if c.DeviceID, err = optionalString(fields, "device_id"); err != nil {
		return c, err
	}
	if c.MessageID, err = optionalString(fields, "message_id"); err != nil {
		return c, err
	}
	return c, nil
}

// readCohort reads the fields a delivery and a change share: cohort_id,
// cohort_name, in_cohort, computed_time.
func readCohort(fields map[string]json.RawMessage) (Change, error) {
	var c Change
	var err error
	if c.CohortID, err = requiredString(fields, "cohort_id"); err != nil {
		return c, err
	}
	if c.CohortName, err = requiredString(fields, "cohort_name"); err != nil {
		return c, err
	}
	if c.InCohort, err = boolField(fields, "in_cohort"); err != nil {
		return c, err
	}
	c.ComputedTime, err = stringOrNumber(fields, "computed_time")
	return c, err
}

// requiredString reads a non-empty string field.
func requiredString(fields map[string]json.RawMessage, name string) (string, error) {
	v, ok := fields[name]
	if !ok || string(v) == "null" {
		return "", fmt.Errorf("%s: missing", name)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s: must be a string, not %.40s", name, v)
	}
	if s == "" {
		return "", fmt.Errorf("%s: empty", name)
	}
	return s, nil
}

// optionalString reads a string field that may be absent or null.
func optionalString(fields map[string]json.RawMessage, name string) (string, error) {
	v, ok := fields[name]
	if !ok || string(v) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s: must be a string, not %.40s", name, v)
	}
	return s, nil
}

// stringOrNumber reads a field Amplitude writes as a string of digits,
// which a custom template may write as a number.
func stringOrNumber(fields map[string]json.RawMessage, name string) (string, error) {
	v, ok := fields[name]
	if !ok || string(v) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return "", fmt.Errorf("%s: must be a string or a number, not %.40s", name, v)
	}
	return n.String(), nil
}

// boolField reads a required boolean. Amplitude's default payload writes
// in_cohort as a JSON boolean; its documented FreeMarker template without
// `?c` would write the text "true" or "false", so that is accepted too.
func boolField(fields map[string]json.RawMessage, name string) (bool, error) {
	v, ok := fields[name]
	if !ok || string(v) == "null" {
		return false, fmt.Errorf("%s: missing", name)
	}
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b, nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil && (s == "true" || s == "false") {
		return s == "true", nil
	}
	return false, fmt.Errorf("%s: must be true or false, not %.40s", name, v)
}
