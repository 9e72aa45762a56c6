// Package currentsgen generates realistic Braze Currents events for demos,
// soak tests, benchmarks and the Braze connector simulator: every event type
// of the samples compiled in (resources), unique ids, many users spread evenly
// and a few hot devices. Users are drawn uniformly, not with a long tail: a
// benchmark replays hours of traffic in seconds, and a tail's heaviest users
// would all turn hot; the hot devices are the explicit, measured exception.
package currentsgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/connect-amplitude/connect-amplitude/resources"
)

// Config shapes the generated traffic.
type Config struct {
	Seed           uint64
	Users          int     // distinct external_user_ids, drawn uniformly
	AnonymousShare float64 // share of events with a device_id only
	HotDevices     int     // devices far over Amplitude's per-device rate
	HotShare       float64 // share of all events sent by the hot devices
	StartTime      int64   // UNIX seconds of the first event
	PerSecond      int     // events per second of event time
	// Userless keeps the samples without any user id, as Braze sends them;
	// their events cannot go to Amplitude and must be dead-lettered.
	Userless bool
}

// DefaultConfig is traffic of 100,000 users with 3 hot devices sending 1%
// of the events.
func DefaultConfig() Config {
	return Config{Seed: 1, Users: 100_000, AnonymousShare: 0.05, HotDevices: 3, HotShare: 0.01, StartTime: 1_700_000_000, PerSecond: 1000}
}

// RegisterFlags adds a flag per field to fs, with c's values as defaults,
// so every command generating traffic takes the same flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed; the same seed gives the same events")
	fs.IntVar(&c.Users, "users", c.Users, "distinct users, drawn uniformly, with two devices each")
	fs.Float64Var(&c.AnonymousShare, "anonymous", c.AnonymousShare, "share of events with a device_id only")
	fs.IntVar(&c.HotDevices, "hot-devices", c.HotDevices, "devices sending far over Amplitude's per-device rate")
	fs.Float64Var(&c.HotShare, "hot-share", c.HotShare, "share of events sent by the hot devices")
	fs.Int64Var(&c.StartTime, "start", c.StartTime, "UNIX time in seconds of the first event")
	fs.IntVar(&c.PerSecond, "per-second", c.PerSecond, "events per second of event time")
	fs.BoolVar(&c.Userless, "userless", c.Userless, "keep the event types without any user id, as Braze sends them (they cannot go to Amplitude)")
}

// Validate names the first setting out of range, by its flag's name.
func (c Config) Validate() error {
	switch {
	case c.Users < 1:
		return errors.New("users must be at least 1")
	case c.PerSecond < 1:
		return errors.New("per-second must be at least 1")
	case c.HotDevices < 0:
		return errors.New("hot-devices must not be negative")
	case c.AnonymousShare < 0 || c.AnonymousShare > 1:
		return errors.New("anonymous must be between 0 and 1")
	case c.HotShare < 0 || c.HotShare > 1:
		return errors.New("hot-share must be between 0 and 1")
	}
	return nil
}

// Generator makes events; it is not safe for concurrent use.
type Generator struct {
	cfg       Config
	rng       *rand.Rand
	templates []template
	n         uint64
}

// A template is a sample event cut around the values each event changes,
// as JSON and as an Avro record of its type.
type template struct {
	identified, anonymous cutEvent
	avro                  *avroTemplate
}

// cutEvent is parts[0] value(kinds[0]) parts[1] ... value(kinds[n-1]) parts[n].
type cutEvent struct {
	parts [][]byte
	kinds []int // indexes into placeholders
}

// The values each event changes, by placeholder index.
const (
	valueID = iota
	valueTime
	valueBrazeID
	valueUser
	valueDevice
)

var placeholders = [][]byte{
	valueID: []byte("\"\x00id\""), valueTime: []byte("\"\x00time\""), valueBrazeID: []byte("\"\x00braze\""),
	valueUser: []byte("\"\x00user\""), valueDevice: []byte("\"\x00device\""),
}

// New prepares the templates from the embedded samples. Samples without any
// user id (which cannot be sent to Amplitude) are left out unless
// cfg.Userless.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("currentsgen: %w", err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	g := &Generator{cfg: cfg, rng: rng}
	for _, line := range bytes.Split(bytes.TrimSpace(resources.CurrentsSamples), []byte("\n")) {
		var ev map[string]any
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("currentsgen: sample: %w", err)
		}
		user, _ := ev["user"].(map[string]any)
		userless := user["external_user_id"] == nil && user["device_id"] == nil
		if userless && !cfg.Userless {
			continue
		}
		at, err := newAvroTemplate(line, userless)
		if err != nil {
			return nil, err
		}
		t, err := cut(ev, userless)
		if err != nil {
			return nil, err
		}
		t.avro = at
		g.templates = append(g.templates, t)
	}
	return g, nil
}

// Events returns the next n events.
func (g *Generator) Events(n int) [][]byte {
	out := make([][]byte, n)
	for k := range out {
		out[k] = g.Next(nil)
	}
	return out
}

// cut makes a sample's template; a userless sample keeps its user without
// ids.
func cut(ev map[string]any, userless bool) (template, error) {
	sampleUser, _ := ev["user"].(map[string]any)
	render := func(anonymous bool) (cutEvent, error) {
		user := map[string]any{}
		if !userless {
			user["user_id"], user["device_id"] = "\x00braze", "\x00device"
		}
		if tz, ok := sampleUser["timezone"]; ok {
			user["timezone"] = tz
		}
		if !anonymous && !userless {
			user["external_user_id"] = "\x00user"
		}
		ev["id"], ev["time"], ev["user"] = "\x00id", "\x00time", user
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(ev); err != nil {
			return cutEvent{}, err
		}
		b := bytes.ReplaceAll(bytes.TrimSpace(buf.Bytes()), []byte(`\u0000`), []byte("\x00"))
		var c cutEvent
		for {
			next, at := -1, len(b)
			for k, ph := range placeholders {
				if i := bytes.Index(b, ph); i >= 0 && i < at {
					next, at = k, i
				}
			}
			if next < 0 {
				c.parts = append(c.parts, b)
				return c, nil
			}
			c.parts = append(c.parts, b[:at])
			c.kinds = append(c.kinds, next)
			b = b[at+len(placeholders[next]):]
		}
	}
	var t template
	var err error
	if t.identified, err = render(false); err != nil {
		return t, err
	}
	t.anonymous, err = render(true)
	return t, err
}

// draw is what tells one event from another: its number, its template,
// its user and device, and whether the user is known only by the device.
type draw struct {
	i            uint64
	ti           int // the template's index
	t            *template
	user, device string
	anonymous    bool
}

// draw takes the next event's values from the random source.
func (g *Generator) draw() draw {
	d := draw{i: g.n}
	g.n++
	d.ti = g.rng.IntN(len(g.templates))
	d.t = &g.templates[d.ti]
	switch r := g.rng.Float64(); {
	case g.cfg.HotDevices > 0 && r < g.cfg.HotShare:
		h := g.rng.IntN(g.cfg.HotDevices)
		d.user, d.device = "hot-user-"+strconv.Itoa(h), "hot-device-"+strconv.Itoa(h)
	default:
		u := strconv.Itoa(g.rng.IntN(g.cfg.Users))
		d.user = "user-" + u
		d.device = "device-" + u + "-" + strconv.Itoa(int(d.i%2))
		d.anonymous = r > 1-g.cfg.AnonymousShare
	}
	return d
}

// time is the event's UNIX time in seconds.
func (g *Generator) time(d draw) int64 {
	return g.cfg.StartTime + int64(d.i)/int64(g.cfg.PerSecond)
}

// Next appends the next event's JSON to dst.
func (g *Generator) Next(dst []byte) []byte {
	d := g.draw()
	c := d.t.identified
	if d.anonymous {
		c = d.t.anonymous
	}
	for k, kind := range c.kinds {
		dst = append(dst, c.parts[k]...)
		switch kind {
		case valueID:
			dst = appendUUID(dst, g.cfg.Seed, d.i)
		case valueTime:
			dst = strconv.AppendInt(dst, g.time(d), 10)
		case valueBrazeID:
			dst = strconv.AppendQuote(dst, "braze-"+d.user)
		case valueUser:
			dst = strconv.AppendQuote(dst, d.user)
		case valueDevice:
			dst = strconv.AppendQuote(dst, d.device)
		}
	}
	return append(dst, c.parts[len(c.kinds)]...)
}

// appendUUID writes a quoted, deterministic UUID-shaped id for event i.
func appendUUID(dst []byte, seed, i uint64) []byte {
	return append(appendUUIDText(append(dst, '"'), seed, i), '"')
}

// appendUUIDText writes the id of event i without quotes. Its last 16 hex
// digits are i (EventNumber reads them back).
func appendUUIDText(dst []byte, seed, i uint64) []byte {
	const hexDigits = "0123456789abcdef"
	hi, lo := seed*0x9e3779b97f4a7c15^i, i
	for k := 0; k < 32; k++ {
		if k == 8 || k == 12 || k == 16 || k == 20 {
			dst = append(dst, '-')
		}
		var nibble uint64
		if k < 16 {
			nibble = hi >> (60 - 4*k) & 0xf
		} else {
			nibble = lo >> (60 - 4*(k-16)) & 0xf
		}
		dst = append(dst, hexDigits[nibble])
	}
	return dst
}

// EventNumber is the number of the generated event whose id is id, from 0,
// and false for an id the generator does not write.
func EventNumber(id string) (uint64, bool) {
	if len(id) != 36 || id[23] != '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(id[19:23]+id[24:], 16, 64)
	return n, err == nil
}
