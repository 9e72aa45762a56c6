package cohorts

import (
	"encoding/json"
	"fmt"
	"time"
)

// Delivery rules of Amplitude's Cohort Webhooks destination:
//
//   - Each POST carries one batch of users who all entered or all left one
//     cohort: cohort_name, cohort_id, in_cohort, computed_time ("Unix epoch
//     time in seconds", as a string), message_id ("When a retry happens,
//     you can use this value to de-duplicate") and users, each with
//     user_id and, when the sync selected any, user_properties.
//   - "The destination must process each batch within 1 to 2 seconds
//     (including network latency) so Amplitude receives a 200 OK response
//     within retry limits. If the destination doesn't respond in time, the
//     call times out and retries, which may produce duplicate payloads."
//   - Every delivery has Content-Type: application/json and User-Agent:
//     Amplitude/Webhook/1.0, plus up to five headers the user defines: the
//     place for a shared secret, since Amplitude "doesn't have a single IP
//     address for forwarding".
//
// Left open by the documentation, and decided here:
//   - How many users one delivery holds, how long and how often Amplitude
//     retries, and whether it waits for one computation's deliveries to be
//     acknowledged before sending the next: the input bounds bodies by
//     max_body_bytes and keeps deduplication state for a configurable time.
//   - Whether a user without a user_id (anonymous in Amplitude) appears,
//     and how: a user whose user_id is absent, null or empty is kept with
//     the device_id a custom template may give it, and the mapping decides
//     (Mapping.Anonymous).

// AnswerDeadline is the longest Amplitude waits for an answer, from its
// documentation's "within 1 to 2 seconds (including network latency)":
// the lower bound, so an answer always arrives in time.
const AnswerDeadline = time.Second

// Delivery is one Cohort Webhooks POST.
type Delivery struct {
	CohortID     string
	CohortName   string
	InCohort     bool
	ComputedTime string
	MessageID    string
	Users        []User
}

// User is one entry of a delivery's users.
type User struct {
	UserID   string
	DeviceID string
}

// ParseDelivery reads a Cohort Webhooks body. An error names the field at
// fault, with the user's index for a bad entry of users.
func ParseDelivery(body []byte) (Delivery, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return Delivery{}, fmt.Errorf("body: not a JSON object: %w", err)
	}
	c, err := readCohort(fields)
	if err != nil {
		return Delivery{}, err
	}
	d := Delivery{CohortID: c.CohortID, CohortName: c.CohortName, InCohort: c.InCohort, ComputedTime: c.ComputedTime}
	if d.MessageID, err = requiredString(fields, "message_id"); err != nil {
		return d, fmt.Errorf("%w (the deduplication of Amplitude's retries needs it)", err)
	}
	raw, ok := fields["users"]
	if !ok || string(raw) == "null" {
		return d, fmt.Errorf("users: missing")
	}
	var users []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &users); err != nil {
		return d, fmt.Errorf("users: must be an array of objects: %w", err)
	}
	d.Users = make([]User, 0, len(users))
	for i, u := range users {
		if u == nil {
			return d, fmt.Errorf("users[%d]: must be an object", i)
		}
		var user User
		if user.UserID, err = optionalString(u, "user_id"); err != nil {
			return d, fmt.Errorf("users[%d].%w", i, err)
		}
		if user.DeviceID, err = optionalString(u, "device_id"); err != nil {
			return d, fmt.Errorf("users[%d].%w", i, err)
		}
		if user.UserID != "" {
			user.DeviceID = "" // a user_id is what Braze knows users by
		}
		d.Users = append(d.Users, user)
	}
	return d, nil
}

// Changes are the delivery's membership changes, one per user.
func (d Delivery) Changes() []Change {
	out := make([]Change, len(d.Users))
	for i, u := range d.Users {
		out[i] = Change{
			CohortID: d.CohortID, CohortName: d.CohortName, InCohort: d.InCohort,
			UserID: u.UserID, DeviceID: u.DeviceID,
			MessageID: d.MessageID, ComputedTime: d.ComputedTime,
		}
	}
	return out
}
