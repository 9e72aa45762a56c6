// Package currentsgen generates realistic Braze Currents events for demos,
// soak tests and benchmarks: every event type of Braze's samples, unique
// ids, many users spread evenly and a few hot devices. Users are drawn
// uniformly, not with a long tail: a benchmark replays hours of traffic in
// seconds, and a tail's heaviest users would all turn hot; the hot devices
// are the explicit, measured exception.
package currentsgen

import (
	"bytes"
	"encoding/json"
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
}

// DefaultConfig is traffic of 100,000 users with 3 hot devices sending 1%
// of the events.
func DefaultConfig() Config {
	return Config{Seed: 1, Users: 100_000, AnonymousShare: 0.05, HotDevices: 3, HotShare: 0.01, StartTime: 1_700_000_000, PerSecond: 1000}
}

// Generator makes events; it is not safe for concurrent use.
type Generator struct {
	cfg       Config
	rng       *rand.Rand
	templates []template
	n         uint64
}

// A template is a sample event cut around the values each event changes.
type template struct {
	identified, anonymous cutEvent
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
// user id (which cannot be sent to Amplitude) are left out.
func New(cfg Config) (*Generator, error) {
	if cfg.Users < 1 || cfg.PerSecond < 1 {
		return nil, fmt.Errorf("currentsgen: Users and PerSecond must be positive")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	g := &Generator{cfg: cfg, rng: rng}
	for _, line := range bytes.Split(bytes.TrimSpace(resources.CurrentsSamples), []byte("\n")) {
		var ev map[string]any
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("currentsgen: sample: %w", err)
		}
		user, _ := ev["user"].(map[string]any)
		if user["external_user_id"] == nil && user["device_id"] == nil {
			continue
		}
		t, err := cut(ev)
		if err != nil {
			return nil, err
		}
		g.templates = append(g.templates, t)
	}
	return g, nil
}

func cut(ev map[string]any) (template, error) {
	render := func(anonymous bool) (cutEvent, error) {
		user := map[string]any{"user_id": "\x00braze", "device_id": "\x00device"}
		if tz, ok := ev["user"].(map[string]any)["timezone"]; ok {
			user["timezone"] = tz
		}
		if !anonymous {
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

// Next appends the next event's JSON to dst.
func (g *Generator) Next(dst []byte) []byte {
	i := g.n
	g.n++
	t := g.templates[g.rng.IntN(len(g.templates))]
	c := t.identified
	var user, device string
	switch r := g.rng.Float64(); {
	case g.cfg.HotDevices > 0 && r < g.cfg.HotShare:
		h := g.rng.IntN(g.cfg.HotDevices)
		user, device = "hot-user-"+strconv.Itoa(h), "hot-device-"+strconv.Itoa(h)
	default:
		u := strconv.Itoa(g.rng.IntN(g.cfg.Users))
		user = "user-" + u
		device = "device-" + u + "-" + strconv.Itoa(int(i%2))
		if r > 1-g.cfg.AnonymousShare {
			c = t.anonymous
		}
	}
	for k, kind := range c.kinds {
		dst = append(dst, c.parts[k]...)
		switch kind {
		case valueID:
			dst = appendUUID(dst, g.cfg.Seed, i)
		case valueTime:
			dst = strconv.AppendInt(dst, g.cfg.StartTime+int64(i)/int64(g.cfg.PerSecond), 10)
		case valueBrazeID:
			dst = strconv.AppendQuote(dst, "braze-"+user)
		case valueUser:
			dst = strconv.AppendQuote(dst, user)
		case valueDevice:
			dst = strconv.AppendQuote(dst, device)
		}
	}
	return append(dst, c.parts[len(c.kinds)]...)
}

// appendUUID writes a quoted, deterministic UUID-shaped id for event i.
func appendUUID(dst []byte, seed, i uint64) []byte {
	const hexDigits = "0123456789abcdef"
	hi, lo := seed*0x9e3779b97f4a7c15^i, i
	dst = append(dst, '"')
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
	return append(dst, '"')
}
