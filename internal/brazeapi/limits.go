// Package brazeapi holds Braze's rules for POST /users/track: its limits,
// what an attributes object must hold, how a request body is built, how
// every kind of answer is read object by object, and its rate-limit
// headers. It does no I/O: the braze_users_track output and the Braze
// emulator both follow it, so the two cannot drift apart.
//
// Sources (Braze's public documentation):
//   - Track users endpoint: https://www.braze.com/docs/api/endpoints/user_data/post_user_track/
//   - Rate limits: https://www.braze.com/docs/api/api_limits/
//   - Errors and responses: https://www.braze.com/docs/api/errors/
//   - User attributes object: https://www.braze.com/docs/api/objects_filters/user_attributes_object/
//   - Setting custom attributes (255-character keys and values):
//     https://www.braze.com/docs/developer_guide/platform_integration_guides/web/analytics/setting_custom_attributes/
package brazeapi

import "time"

// TrackPath is the endpoint's path under a REST instance URL such as
// https://rest.iad-01.braze.com (US-01) or https://rest.fra-01.braze.eu
// (EU-01); each Braze instance has its own host, so the URL is configured,
// never guessed.
const TrackPath = "/users/track"

const (
	// MaxObjectsPerRequest is the most attributes objects one request may
	// carry ("up to 75 attribute objects" per request; the newer combined
	// rule, 75 objects across attributes, events and purchases, gives the
	// same bound since only attributes are sent). More is a fatal 400
	// ("Max Input Length Exceeded").
	MaxObjectsPerRequest = 75

	// RequestsPerWindow requests per RateWindow is the endpoint's default
	// rate limit per workspace: "3,000 requests per three seconds". Braze
	// raises it on request, and customers on the MAU-based contracts get
	// other limits, which the X-RateLimit-* headers carry; see RateLimit.
	RequestsPerWindow = 3000
	RateWindow        = 3 * time.Second

	// MaxStringLen bounds custom attribute keys and string values:
	// "Custom attribute keys and values have a maximum length of 255
	// characters". The documentation does not say whether it counts bytes
	// or characters; the check counts characters (runes), the lenient
	// reading, since a stricter count would refuse names Braze accepts.
	MaxStringLen = 255

	// DefaultMaxArrayElements is the default length of an array custom
	// attribute. Braze truncates longer arrays ("Arrays exceeding the
	// maximum number of elements will be truncated"); the limit can be
	// raised per attribute by Braze. Which elements a truncation drops is
	// not documented.
	DefaultMaxArrayElements = 25
)

// DefaultSendRate and DefaultSendBurst pace requests under the default
// limit with margin: a GCRA pace of rate r with burst b sends at most
// b + r·w requests in any window w, here 100 + 900·3 = 2,800 < 3,000.
const (
	DefaultSendRate  = 900.0
	DefaultSendBurst = 100
)
