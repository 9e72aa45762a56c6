package emulator

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// reply is the answer to one upload and what it adds to the statistics.
type reply struct {
	status int
	body   []byte

	received     int            // events in the request, when it parsed
	reason       string         // why the whole request was refused; "" when it was not
	refused      map[string]int // events refused, by reason
	ingested     int
	deduplicated int
	truncated    int      // string values of the ingested events Amplitude truncates
	throttledIDs []string // "device_id:<id>" / "user_id:<id>"
	quotaIDs     []string
}

// errorBody is the shape of Amplitude's 400 and 413 answers; fields it does not use
// are left out.
type errorBody struct {
	Code                       int              `json:"code"`
	Error                      string           `json:"error"`
	MissingField               string           `json:"missing_field,omitempty"`
	EventsWithInvalidFields    map[string][]int `json:"events_with_invalid_fields,omitempty"`
	EventsWithMissingFields    map[string][]int `json:"events_with_missing_fields,omitempty"`
	EventsWithInvalidIDLengths map[string][]int `json:"events_with_invalid_id_lengths,omitempty"`
	SilencedDevices            []string         `json:"silenced_devices,omitempty"`
	SilencedEvents             []int            `json:"silenced_events,omitempty"`
}

// throttledBody is Amplitude's 429 answer. The throttled maps and list are always
// present, as in Amplitude's examples; the daily-quota maps only when used.
type throttledBody struct {
	Code                      int                `json:"code"`
	Error                     string             `json:"error"`
	EPSThreshold              float64            `json:"eps_threshold"`
	ThrottledDevices          map[string]float64 `json:"throttled_devices"`
	ThrottledUsers            map[string]float64 `json:"throttled_users"`
	ThrottledEvents           []int              `json:"throttled_events"`
	ExceededDailyQuotaDevices map[string]float64 `json:"exceeded_daily_quota_devices,omitempty"`
	ExceededDailyQuotaUsers   map[string]float64 `json:"exceeded_daily_quota_users,omitempty"`
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("emulator: cannot encode a reply: " + err.Error()) // only maps, slices, numbers, strings
	}
	return b
}

func badRequest(reason, message, missingField string) *reply {
	return &reply{
		status: http.StatusBadRequest,
		body:   marshal(errorBody{Code: 400, Error: message, MissingField: missingField}),
		reason: reason,
	}
}

// invalidAPIKey echoes the key as Amplitude does; the emulator never logs it.
func invalidAPIKey(key string) *reply {
	return &reply{
		status: http.StatusBadRequest,
		body:   marshal(errorBody{Code: 400, Error: "Invalid API key: " + key}),
		reason: "invalid_api_key",
	}
}

func payloadTooLarge(reason string) *reply {
	return &reply{
		status: http.StatusRequestEntityTooLarge,
		body:   marshal(errorBody{Code: 413, Error: "Payload too large"}),
		reason: reason,
	}
}

// injectedError is a 5xx fault; ingested events (IngestBeforeError) stay counted.
func injectedError(code int) *reply {
	return &reply{
		status: code,
		body:   marshal(errorBody{Code: code, Error: http.StatusText(code)}),
		reason: "injected_" + strconv.Itoa(code),
	}
}

// eventsRefused is the 400 naming the events that cannot be ingested.
func eventsRefused(p eventProblems, silencedDevices []string, silencedEvents []int) *reply {
	message := "Events silenced for device_id"
	switch {
	case p.missing != nil:
		message = "Request missing required field"
	case p.invalid != nil || p.idLength != nil:
		message = "Invalid field values on some events"
	}
	refused := make(map[string]int)
	for reason, fields := range map[string]map[string][]int{
		"missing_fields": p.missing, "invalid_fields": p.invalid, "invalid_id_lengths": p.idLength,
	} {
		for _, indexes := range fields {
			refused[reason] += len(indexes)
		}
	}
	if len(silencedEvents) > 0 {
		refused["silenced"] = len(silencedEvents)
	}
	return &reply{
		status: http.StatusBadRequest,
		body: marshal(errorBody{
			Code: 400, Error: message,
			EventsWithInvalidFields:    p.invalid,
			EventsWithMissingFields:    p.missing,
			EventsWithInvalidIDLengths: p.idLength,
			SilencedDevices:            silencedDevices,
			SilencedEvents:             silencedEvents,
		}),
		reason:  "invalid_events",
		refused: refused,
	}
}

// tooManyRequests is the 429 for ids over their eps limit or daily quota. Amplitude
// refuses the whole request; throttled_events lists the events of every such id.
func tooManyRequests(eps float64, events []Event, throttled, exceeded []idUsage) *reply {
	body := throttledBody{
		Code: 429, Error: "Too many requests for some devices and users", EPSThreshold: eps,
		ThrottledDevices: map[string]float64{}, ThrottledUsers: map[string]float64{}, ThrottledEvents: []int{},
		ExceededDailyQuotaDevices: map[string]float64{}, ExceededDailyQuotaUsers: map[string]float64{},
	}
	r := &reply{status: http.StatusTooManyRequests, reason: "too_many_requests", refused: map[string]int{}}
	devices, users := map[string]bool{}, map[string]bool{}
	for _, u := range throttled {
		byKind(u.user, body.ThrottledUsers, body.ThrottledDevices)[u.id] = u.value
		byKind(u.user, users, devices)[u.id] = true
		r.throttledIDs = append(r.throttledIDs, u.label())
	}
	for _, u := range exceeded {
		byKind(u.user, body.ExceededDailyQuotaUsers, body.ExceededDailyQuotaDevices)[u.id] = u.value
		byKind(u.user, users, devices)[u.id] = true
		r.quotaIDs = append(r.quotaIDs, u.label())
	}
	for i, ev := range events {
		if (ev.DeviceID != "" && devices[ev.DeviceID]) || (ev.UserID != "" && users[ev.UserID]) {
			body.ThrottledEvents = append(body.ThrottledEvents, i)
		}
	}
	reason := "daily_quota"
	if len(throttled) > 0 {
		reason = "throttled"
	}
	r.refused[reason] = len(body.ThrottledEvents)
	r.body = marshal(body)
	return r
}

func byKind[V any](user bool, users, devices map[string]V) map[string]V {
	if user {
		return users
	}
	return devices
}

func (id idCount) label() string {
	if id.user {
		return "user_id:" + id.id
	}
	return "device_id:" + id.id
}

// accepted is the 200 answer, built by hand as it is the one reply on the hot path.
// events_ingested counts duplicates too: Amplitude drops them after answering.
func accepted(ingested, deduplicated, payloadBytes int, uploadTimeMillis int64) *reply {
	b := make([]byte, 0, 112)
	b = append(b, `{"code":200,"events_ingested":`...)
	b = strconv.AppendInt(b, int64(ingested+deduplicated), 10)
	b = append(b, `,"payload_size_bytes":`...)
	b = strconv.AppendInt(b, int64(payloadBytes), 10)
	b = append(b, `,"server_upload_time":`...)
	b = strconv.AppendInt(b, uploadTimeMillis, 10)
	b = append(b, '}')
	return &reply{status: http.StatusOK, body: b, ingested: ingested, deduplicated: deduplicated}
}
