// Package brazesim behaves like Braze's Custom HTTP Currents connector, for
// end-to-end tests and load measurements of a receiver: it posts events in
// envelopes of up to 100 with a bearer token, retries 5xx, 429, timeouts and
// connection errors with jittered exponential backoff, splits a batch on 400
// (to single events) and 413 (in halves), and reports what was acknowledged
// and how fast.
package brazesim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// LoadSamples reads the Custom HTTP example events of Braze's
// currents-examples (one event object per *.json file), sorted by file name.
func LoadSamples(dir string) ([]map[string]any, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no *.json sample events in %s", dir)
	}
	sort.Strings(paths)
	samples := make([]map[string]any, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var ev map[string]any
		if err := json.Unmarshal(data, &ev); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		samples = append(samples, ev)
	}
	return samples, nil
}

// Workload shapes the generated events.
type Workload struct {
	Events         int
	Users          int     // distinct users, drawn uniformly
	AnonymousShare float64 // share of events whose user keeps only a device_id
	Seed           uint64
	StartTime      int64 // UNIX seconds of the first event
	PerSecond      int   // events per second of event time
}

// Generate makes w.Events events from the samples, each with a fresh id, a
// time and a user drawn from w.Users. A sample's user keeps the kinds of ids
// it has: a sample without any user id stays without, as Braze would send it
// (such an event cannot go to Amplitude and must be dead-lettered).
func Generate(samples []map[string]any, w Workload) ([][]byte, error) {
	if len(samples) == 0 || w.Users < 1 || w.PerSecond < 1 || w.Events < 0 {
		return nil, fmt.Errorf("brazesim: need samples, Users and PerSecond > 0, Events >= 0")
	}
	rng := rand.New(rand.NewPCG(w.Seed, 0xb7a2e))
	out := make([][]byte, w.Events)
	for k := range out {
		sample := samples[rng.IntN(len(samples))]
		ev := make(map[string]any, len(sample))
		for key, v := range sample {
			ev[key] = v
		}
		ev["id"] = newID(rng)
		ev["time"] = w.StartTime + int64(k/w.PerSecond)
		ev["user"] = drawUser(rng, sample["user"], w)
		raw, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out[k] = raw
	}
	return out, nil
}

func drawUser(rng *rand.Rand, sampleUser any, w Workload) map[string]any {
	orig, _ := sampleUser.(map[string]any)
	u := strconv.Itoa(rng.IntN(w.Users))
	user := make(map[string]any, len(orig))
	for key, v := range orig {
		switch key {
		case "user_id":
			user[key] = "braze-" + u
		case "external_user_id":
			user[key] = "user-" + u
		case "device_id":
			user[key] = "device-" + u
		default:
			user[key] = v
		}
	}
	_, hasDevice := user["device_id"]
	if hasDevice && rng.Float64() < w.AnonymousShare {
		delete(user, "external_user_id")
	}
	return user
}

// newID is a random UUID (version 4 layout) from rng, so a seed repeats a
// workload exactly.
func newID(rng *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

// ReadEvents reads one event per line (for example currents-gen's output);
// blank lines are skipped, and each line must be JSON.
func ReadEvents(r io.Reader) ([][]byte, error) {
	var out [][]byte
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 2<<20) // Braze's events stay under 900 KB
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return nil, fmt.Errorf("line %d is not JSON", n)
		}
		out = append(out, bytes.Clone(line))
	}
	return out, sc.Err()
}
