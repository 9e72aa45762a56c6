package currentsmap

import (
	"fmt"

	"github.com/connect-amplitude/connect-amplitude/internal/glob"
)

// Naming profiles for the Amplitude event_type.
const (
	// ProfileBraze names events as Braze's own Amplitude export does:
	// "[Appboy] Email Open", "[Appboy] [Custom Event] <name>".
	ProfileBraze = "braze"
	// ProfileCurrents uses the raw Currents type ("users.messages.email.Open")
	// and, for custom events, the custom event's own name.
	ProfileCurrents = "currents"
)

// What to do with the properties listed in Options.PIIFields.
const (
	PIIKeep = "keep"
	PIIHash = "hash" // SHA-256, hex: pseudonymous, still joinable across events
	PIIDrop = "drop"
)

// Options select how Currents events become Amplitude events. The zero value
// is not valid; start from DefaultOptions.
type Options struct {
	// Profile is ProfileBraze or ProfileCurrents.
	Profile string
	// Names overrides the Amplitude event_type per Currents event type.
	Names map[string]string
	// Include, when not empty, keeps only the event types matching one of
	// these globs; Exclude drops the types matching one of its globs. In a
	// glob, * matches any run of characters (dots included) and ? one.
	Include, Exclude []string
	// Anonymous sends events of users known only by device_id.
	Anonymous bool
	// DeviceFields copies platform, os_version and device_model to
	// Amplitude's top-level fields (they stay in event_properties too).
	DeviceFields bool
	// Revenue adds Amplitude's revenue fields to events carrying a price.
	Revenue bool
	// PII is PIIKeep, PIIHash or PIIDrop, applied to PIIFields.
	PII       string
	PIIFields []string
}

// The options' names, as the method's parameters and the processor's fields.
const (
	optProfile      = "profile"
	optNames        = "names"
	optInclude      = "include"
	optExclude      = "exclude"
	optAnonymous    = "anonymous"
	optDeviceFields = "device_fields"
	optRevenue      = "revenue"
	optPII          = "pii"
	optPIIFields    = "pii_fields"
)

// ProducedDoc says what the mapping writes, once for the method's and the
// processor's docs.
const ProducedDoc = "What it writes (Braze's own export, with the event table in resources/braze-amplitude-events.json):\n\n" +
	"| Amplitude field | From |\n|---|---|\n" +
	"| `event_type` | `[Appboy] Email Open` and the like, by Currents type; custom events `[Appboy] [Custom Event] <name>`; unknown types `[Appboy] <type>` |\n" +
	"| `insert_id` | the Currents `id`, stable across Braze's retries, so Amplitude deduplicates |\n" +
	"| `time` | Currents `time` (seconds) x 1000, or `time_ms` when the event has it |\n" +
	"| `user_id` / `device_id` | `external_user_id` / `device_id`; Braze's internal `user_id` never reaches the top level |\n" +
	"| `library` | `Braze` |\n" +
	"| `idfa` / `adid` | `ad_id` by `ad_id_type` (`ios_idfa`, `google_ad_id`), on the types that carry it |\n" +
	"| `productId`, `price` | purchases |\n" +
	"| `event_properties` | every other Currents property, and `user.timezone`; custom and purchase properties flattened as `[Custom event property] <key>` and `[Purchase property] <key>` |\n\n" +
	"An event with neither `external_user_id` nor `device_id`, without `id`, `time` or `event_type`, with wrong types, or with bytes that are not UTF-8 fails with an error naming the event and the field, e.g. `currents event \"a1b2\": field user: has neither external_user_id nor device_id; Amplitude needs one`."

// optionDocs document each option once for the method and the processor.
var optionDocs = map[string]string{
	optProfile:      `Event naming: "braze" ([Appboy] names, as Braze's export) or "currents" (the raw Currents type; custom events by their own name).`,
	optNames:        "Object of Currents event type -> Amplitude event_type, overriding the profile for those types.",
	optInclude:      `Event types to keep, as globs ("users.messages.email.*"; * crosses dots). Empty keeps every type.`,
	optExclude:      "Event types to leave out, as globs; applied after include.",
	optAnonymous:    "Send events of users known only by device_id (no external_user_id).",
	optDeviceFields: "Also set Amplitude's top-level platform, os_version and device_model.",
	optRevenue:      "On events with a price, also set revenue, quantity (1), revenueType (purchase) and currency.",
	optPII:          `What to do with pii_fields: "keep", "hash" (hex SHA-256) or "drop". Applies to adid/idfa too when ad_id is listed.`,
	optPIIFields:    "The Currents properties treated as personal data.",
}

// DefaultPIIFields are the Currents properties holding personal data:
// email addresses, phone numbers and advertising ids.
func DefaultPIIFields() []string {
	return []string{
		"email_address", "phone_number", "to_phone_number", "from_phone_number",
		"user_phone_number", "inbound_phone_number", "ad_id",
	}
}

// DefaultOptions reproduce Braze's own Amplitude export.
func DefaultOptions() Options {
	return Options{Profile: ProfileBraze, PII: PIIKeep, PIIFields: DefaultPIIFields()}
}

func (o Options) validate() error {
	switch o.Profile {
	case ProfileBraze, ProfileCurrents:
	default:
		return fmt.Errorf("profile: %q is not one of %q, %q", o.Profile, ProfileBraze, ProfileCurrents)
	}
	switch o.PII {
	case PIIKeep, PIIHash, PIIDrop:
	default:
		return fmt.Errorf("pii: %q is not one of %q, %q, %q", o.PII, PIIKeep, PIIHash, PIIDrop)
	}
	for _, g := range append(append([]string{}, o.Include...), o.Exclude...) {
		if g == "" {
			return fmt.Errorf("include/exclude: empty glob")
		}
	}
	return nil
}

// selected reports whether an event type passes the include and exclude lists.
func (o Options) selected(eventType string) bool {
	if len(o.Include) > 0 && !glob.MatchAny(o.Include, eventType) {
		return false
	}
	return !glob.MatchAny(o.Exclude, eventType)
}
