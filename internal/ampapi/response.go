package ampapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Outcome is what a response means for the events of its request.
type Outcome int

const (
	Accepted       Outcome = iota // 200: ack every event
	EventsRejected                // 400 naming events: fail those, resend the rest
	ConfigFault                   // 400 about the key or the body: hold everything, retry slowly
	Unexplained                   // 400 naming nothing: split the request to find the bad events
	TooLarge                      // 413: split the request
	Throttled                     // 429: pause the named ids, resend the rest
	Transient                     // 5xx and anything else: retry with backoff
)

var outcomeNames = [...]string{"accepted", "events_rejected", "config_fault", "unexplained", "too_large", "throttled", "transient"}

func (o Outcome) String() string { return outcomeNames[o] }

// Response is the body of an Amplitude answer; index lists refer to the
// request's events array.
type Response struct {
	Code                       int                `json:"code"`
	Error                      string             `json:"error"`
	MissingField               string             `json:"missing_field"`
	EventsIngested             int                `json:"events_ingested"`
	EventsWithInvalidFields    map[string][]int   `json:"events_with_invalid_fields"`
	EventsWithMissingFields    map[string][]int   `json:"events_with_missing_fields"`
	EventsWithInvalidIDLengths map[string][]int   `json:"events_with_invalid_id_lengths"`
	SilencedDevices            []string           `json:"silenced_devices"`
	SilencedEvents             []int              `json:"silenced_events"`
	EPSThreshold               float64            `json:"eps_threshold"`
	ThrottledDevices           map[string]float64 `json:"throttled_devices"`
	ThrottledUsers             map[string]float64 `json:"throttled_users"`
	ThrottledEvents            []int              `json:"throttled_events"`
	ExceededDailyQuotaDevices  map[string]int64   `json:"exceeded_daily_quota_devices"`
	ExceededDailyQuotaUsers    map[string]int64   `json:"exceeded_daily_quota_users"`
}

// Classify reads a response. A body that does not parse still classifies
// by status.
func Classify(status int, body []byte) (Outcome, *Response) {
	r := &Response{}
	_ = json.Unmarshal(body, r)
	switch {
	case status == http.StatusOK:
		return Accepted, r
	case status == http.StatusBadRequest:
		switch {
		case r.MissingField != "" || strings.HasPrefix(r.Error, "Invalid API key"):
			return ConfigFault, r
		case len(r.EventsWithInvalidFields)+len(r.EventsWithMissingFields)+len(r.EventsWithInvalidIDLengths)+len(r.SilencedEvents) > 0:
			return EventsRejected, r
		}
		return Unexplained, r
	case status == http.StatusRequestEntityTooLarge:
		return TooLarge, r
	case status == http.StatusTooManyRequests:
		return Throttled, r
	}
	return Transient, r
}

// RejectedEvents maps each event index a 400 names to its failure.
func (r *Response) RejectedEvents() map[int]*EventError {
	out := map[int]*EventError{}
	add := func(lists map[string][]int, reason, what string) {
		for field, idx := range lists {
			for _, i := range idx {
				out[i] = fieldError(field, reason, "Amplitude reports %s %s", field, what)
			}
		}
	}
	add(r.EventsWithInvalidFields, ReasonInvalidField, "invalid")
	add(r.EventsWithMissingFields, ReasonMissingField, "missing")
	add(r.EventsWithInvalidIDLengths, ReasonInvalidIDLength, "of invalid length")
	for _, i := range r.SilencedEvents {
		out[i] = eventError(ReasonSilenced, "Amplitude silenced this device")
	}
	return out
}
