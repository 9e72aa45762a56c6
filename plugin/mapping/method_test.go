package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/connect-amplitude/connect-amplitude/internal/currentsmap"
	"reflect"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

// runMapping applies a Bloblang mapping to one message the way the mapping
// processor does; a nil message means the mapping deleted it.
func runMapping(t *testing.T, mapping string, in []byte) (*service.Message, error) {
	t.Helper()
	exec, err := bloblang.Parse(mapping)
	if err != nil {
		t.Fatalf("parse %q: %v", mapping, err)
	}
	return service.NewMessage(in).BloblangQuery(exec)
}

func TestMethodOnBytesStringsAndObjectsGivesTheSameEvent(t *testing.T) {
	for _, s := range samples.CustomHTTP(t) {
		t.Run(s.Name, func(t *testing.T) {
			fromBytes, errBytes := runMapping(t, `root = content().currents_to_amplitude()`, s.Data)
			fromString, errString := runMapping(t, `root = content().string().currents_to_amplitude()`, s.Data)
			fromObject, errObject := runMapping(t, `root = this.currents_to_amplitude()`, s.Data)
			if (errBytes == nil) != (errObject == nil) || fmt.Sprint(errBytes) != fmt.Sprint(errString) {
				t.Fatalf("bytes error %v, string error %v, object error %v", errBytes, errString, errObject)
			}
			if errBytes != nil {
				if !strings.Contains(errBytes.Error(), `field user`) || errBytes.Error() != errObject.Error() {
					t.Fatalf("unexpected errors: %v / %v", errBytes, errObject)
				}
				return
			}
			b, _ := fromBytes.AsBytes()
			if fs, _ := fromString.AsBytes(); !bytes.Equal(b, fs) {
				t.Errorf("bytes path %s\nstring path %s", b, fs)
			}
			o, _ := fromObject.AsBytes()
			if !reflect.DeepEqual(decode(t, b), decode(t, o)) {
				t.Errorf("bytes path %s\nobject path %s", b, o)
			}
		})
	}
}

// The object form's numbers are what Benthos makes of JSON numbers
// (json.Number), so Bloblang computes with them and writes them unchanged.
func TestObjectFormNumbersAreNumbersToBloblang(t *testing.T) {
	event := []byte(`{"event_type":"users.behaviors.Purchase","id":"ev-1","time":1700000000,"user":{"external_user_id":"user-1"},"properties":{"price":9.99,"big":12345678901234567890}}`)
	cases := []struct{ query, want string }{
		{`this.currents_to_amplitude().time.type()`, `number`},
		{`this.currents_to_amplitude().time / 1000`, `1700000000`},
		{`this.currents_to_amplitude().price * 2`, `19.98`},
		{`this.currents_to_amplitude().event_properties.big`, `12345678901234567890`},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			msg, err := runMapping(t, "root = "+c.query, event)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := msg.AsBytes(); string(got) != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

// The bytes the method returns belong to the message: mapping more events
// into the same pooled chunk, or appending to a result, must leave the others
// as they were.
func TestMethodResultsAreNotReusedByLaterCalls(t *testing.T) {
	m, err := currentsmap.New(currentsmap.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var results, want [][]byte
	for _, s := range samples.CustomHTTP(t) {
		expected, err := m.MapRaw(nil, s.Data)
		if err != nil {
			continue
		}
		got, err := method(m, s.Data)
		if err != nil {
			t.Fatal(err)
		}
		results, want = append(results, got.([]byte)), append(want, expected)
	}
	if len(results) < 2 {
		t.Fatal("need at least two mapped samples")
	}
	for i := range results {
		_ = append(results[i], "overwrite"...)
	}
	for i := range results {
		if !bytes.Equal(results[i], want[i]) {
			t.Errorf("result %d changed after later calls:\n got %s\nwant %s", i, results[i], want[i])
		}
	}
}

func TestExcludedEventsMapToNullAndCanBeDeleted(t *testing.T) {
	anon := []byte(`{"event_type":"users.behaviors.app.SessionStart","id":"ev-1","time":1,"user":{"device_id":"device-1"}}`)
	msg, err := runMapping(t, `root = content().currents_to_amplitude()`, anon)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := msg.AsBytes(); string(b) != "null" {
		t.Errorf("excluded event mapped to %s, want null", b)
	}
	msg, err = runMapping(t, "root = content().currents_to_amplitude()\nroot = if root == null { deleted() }", anon)
	if err != nil || msg != nil {
		t.Errorf("want the message deleted, got %v, %v", msg, err)
	}
	msg, err = runMapping(t, "root = content().currents_to_amplitude(anonymous: true)\nroot = if root == null { deleted() }", anon)
	if err != nil || msg == nil {
		t.Errorf("anonymous: true must keep the event, got %v, %v", msg, err)
	}
}

func TestMethodParameters(t *testing.T) {
	event := []byte(`{"event_type":"users.messages.email.Open","id":"ev-1","time":1,"user":{"external_user_id":"user-1"},"properties":{"email_address":"a@example.com"}}`)
	cases := []struct {
		name, args, want, parseErr string
	}{
		{name: "defaults", args: ``, want: `[Appboy] Email Open`},
		{name: "profile", args: `profile: "currents"`, want: `users.messages.email.Open`},
		{name: "names", args: `names: {"users.messages.email.Open": "Opened"}`, want: `Opened`},
		{name: "include", args: `include: ["users.messages.sms.*"]`, want: `null`},
		{name: "exclude", args: `exclude: ["*.Open"]`, want: `null`},
		{name: "unknown profile", args: `profile: "segment"`, parseErr: `profile: "segment" is not one of`},
		{name: "names not an object", args: `names: ["x"]`, parseErr: `names: expected an object`},
		{name: "include not a list", args: `include: "users.*"`, parseErr: `include: expected an array of strings`},
		{name: "non-string glob", args: `exclude: [1]`, parseErr: `exclude[0]: expected a string`},
		{name: "unknown pii mode", args: `pii: "mask"`, parseErr: `pii: "mask" is not one of`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mapping := `root = this.currents_to_amplitude(` + c.args + `).event_type.or("null")`
			exec, err := bloblang.Parse(mapping)
			if c.parseErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.parseErr) {
					t.Fatalf("want parse error %q, got %v", c.parseErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			msg, err := service.NewMessage(event).BloblangQuery(exec)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := msg.AsBytes(); string(got) != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestMappingErrorsReachTheProcessor(t *testing.T) {
	_, err := runMapping(t, `root = content().currents_to_amplitude()`, []byte(`{"id":"ev-1","event_type":"t","time":"x"}`))
	if err == nil || !strings.Contains(err.Error(), `currents event "ev-1": field time`) {
		t.Fatalf("want the field error, got %v", err)
	}
	var fe *currentsmap.FieldError
	if errors.As(err, &fe) {
		return // wrapped or not, the text above is what a dead-letter route sees
	}
}

// decode parses JSON as Benthos does, numbers as json.Number.
func decode(t testing.TB, data []byte) map[string]any {
	t.Helper()
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}
