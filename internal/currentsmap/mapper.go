// Package mapping turns Braze Currents events into Amplitude HTTP API events,
// reproducing Braze's own Amplitude export. MapRaw holds the mapping: it reads
// JSON bytes in one validating pass and writes JSON bytes. MapObject serves
// events Benthos has already parsed by running MapRaw on their JSON.
package currentsmap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Library is the `library` value Braze's export sets on every event.
const Library = "Braze"

// Mapper maps Currents events with fixed options. It is safe for concurrent use.
type Mapper struct {
	opts  Options
	table *table
	plans map[string]*plan // every table type and alias, built once
	pii   map[string]bool  // nil when PII is kept as is

	// Plans of types missing from the table, cached up to a bound so a
	// stream of garbage types cannot grow memory.
	unknown      sync.Map
	unknownCount atomic.Int32

	customPropertyPrefix   string // JSON-escaped, without quotes
	purchasePropertyPrefix string
	customEventTypePrefix  string
}

const maxCachedUnknownTypes = 256

// plan is what the mapping does for one Currents event type.
type plan struct {
	selected      bool
	custom        bool   // named from the event's `name` property
	eventType     string // the Amplitude event_type, when not custom
	eventTypeJSON []byte
	row           tableRow
	// consumes marks the property roles kept out of event_properties under
	// their own name for this type, so that it is not decided per property.
	consumes [numRoles]bool
}

// role says what the mapping may do with a property besides copying it to
// event_properties.
type role uint8

const (
	plain         role = iota
	roleCustom         // custom_properties: flattened with a prefix
	rolePurchase       // purchase_properties: flattened with a prefix
	roleName           // names custom events
	roleProductID      // top-level productId
	rolePrice          // top-level price and revenue
	roleTimeMS         // overrides time
	roleAdID           // top-level adid / idfa
	roleAdIDType
	roleCurrency
	roleTimezone // written after user.timezone, which it overrides
	roleDevice   // the first of len(deviceFields) roles, in their order
	numRoles     = roleDevice + role(len(deviceFields))
)

// roleNames are the property names that have a role.
var roleNames = [numRoles]string{
	roleCustom:     "custom_properties",
	rolePurchase:   "purchase_properties",
	roleName:       "name",
	roleProductID:  "product_id",
	rolePrice:      "price",
	roleTimeMS:     "time_ms",
	roleAdID:       "ad_id",
	roleAdIDType:   "ad_id_type",
	roleCurrency:   "currency",
	roleTimezone:   "timezone",
	roleDevice:     deviceFields[0],
	roleDevice + 1: deviceFields[1],
	roleDevice + 2: deviceFields[2],
}

// roleKeys are the role names as JSON strings, to write them.
var roleKeys = func() (keys [numRoles]string) {
	for r, name := range roleNames {
		keys[r] = `"` + name + `"`
	}
	return keys
}()

// roleByShape finds the only role a name of a given length (mod 32) and
// first byte (mod 32) can have. roleOf runs for every property: a switch on
// the names compiled to a jump on the length that the CPU often mispredicts.
var roleByShape = func() (t [32][32]role) {
	for r, name := range roleNames {
		if name == "" {
			continue
		}
		if t[len(name)%32][name[0]%32] != plain {
			panic("mapping: two role names share a shape: " + name)
		}
		t[len(name)%32][name[0]%32] = role(r)
	}
	return t
}()

// roleOf classifies a property by its name.
func roleOf(key string) role {
	if key == "" {
		return plain
	}
	if r := roleByShape[len(key)%32][key[0]%32]; r != plain && key == roleNames[r] {
		return r
	}
	return plain
}

// New compiles the options against the built-in event table.
func New(opts Options) (*Mapper, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	t, err := builtinTable()
	if err != nil {
		return nil, err
	}
	m := &Mapper{
		opts:                   opts,
		table:                  t,
		plans:                  make(map[string]*plan, len(t.rows)+len(t.aliases)),
		customPropertyPrefix:   jsonStringBody(t.prefixes.CustomEventProperty),
		purchasePropertyPrefix: jsonStringBody(t.prefixes.PurchaseProperty),
		customEventTypePrefix:  jsonStringBody(t.prefixes.CustomEventType),
	}
	if opts.PII != PIIKeep {
		m.pii = make(map[string]bool, len(opts.PIIFields))
		for _, f := range opts.PIIFields {
			m.pii[f] = true
		}
	}
	names := make(map[string]string, len(opts.Names))
	for k, v := range opts.Names {
		names[t.canonical(k)] = v
	}
	m.opts.Names = names
	for name := range t.rows {
		m.plans[name] = m.buildPlan(name)
	}
	for alias, canonical := range t.aliases {
		m.plans[alias] = m.plans[canonical]
	}
	return m, nil
}

func (m *Mapper) buildPlan(eventType string) *plan {
	canonical := m.table.canonical(eventType)
	row := m.table.rows[canonical]
	p := &plan{
		selected: m.opts.selected(canonical),
		custom:   canonical == customEventType,
		row:      row,
	}
	p.consumes[roleCustom] = true
	p.consumes[rolePurchase] = true
	p.consumes[roleName] = p.custom
	p.consumes[roleProductID] = row.productID
	p.consumes[rolePrice] = row.price
	if p.custom {
		return p
	}
	switch override, ok := m.opts.Names[canonical]; {
	case ok:
		p.eventType = override
	case m.opts.Profile == ProfileCurrents:
		p.eventType = canonical
	case row.eventType != "":
		p.eventType = row.eventType
	default:
		p.eventType = m.table.prefixes.EventType + canonical
	}
	p.eventTypeJSON, _ = json.Marshal(p.eventType)
	return p
}

func (m *Mapper) planFor(eventType string) *plan {
	if p, ok := m.plans[eventType]; ok {
		return p
	}
	if p, ok := m.unknown.Load(eventType); ok {
		return p.(*plan)
	}
	// The raw path's eventType points into the caller's event, which the
	// cache must neither keep alive nor see change.
	eventType = strings.Clone(eventType)
	p := m.buildPlan(eventType)
	if m.unknownCount.Add(1) <= maxCachedUnknownTypes {
		m.unknown.Store(eventType, p)
	}
	return p
}

// adIDField is the Amplitude top-level field for an advertising id, by
// Braze's ad_id_type; other id kinds stay in event_properties only.
func adIDField(adIDType string) string {
	switch adIDType {
	case "ios_idfa":
		return "idfa"
	case "google_ad_id":
		return "adid"
	}
	return ""
}

// deviceFields are copied to Amplitude's top level when DeviceFields is on.
var deviceFields = [...]string{"platform", "os_version", "device_model"}

// secondsToMillis converts the JSON number text of Currents' `time`.
func secondsToMillis(num string) (int64, bool) {
	if i, err := parseInt(num); err == nil {
		if i > math.MaxInt64/1000 || i < math.MinInt64/1000 {
			return 0, false
		}
		return i * 1000, true
	}
	return floatToInt(num, 1000)
}

// millis reads the JSON number text of a `time_ms` property.
func millis(num string) (int64, bool) {
	if i, err := parseInt(num); err == nil {
		return i, true
	}
	return floatToInt(num, 1)
}

// parseInt is strconv.ParseInt in base 10 with a quick path for the plain
// digits every event's time has, on which strconv's general parser spends
// twice the instructions.
func parseInt(num string) (int64, error) {
	if len(num) == 0 || len(num) > 18 { // 18 digits cannot overflow
		return strconv.ParseInt(num, 10, 64)
	}
	var i int64
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return strconv.ParseInt(num, 10, 64)
		}
		i = i*10 + int64(c-'0')
	}
	return i, nil
}

func floatToInt(num string, scale float64) (int64, bool) {
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	f = math.Round(f * scale)
	if math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}

// appendHash writes the quoted hex SHA-256 of a PII value.
func appendHash(dst []byte, value string) []byte {
	sum := sha256.Sum256([]byte(value))
	dst = append(dst, '"')
	dst = hex.AppendEncode(dst, sum[:])
	return append(dst, '"')
}

// jsonStringBody is s encoded as a JSON string, without the quotes, so it
// can prefix an already-encoded string.
func jsonStringBody(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
