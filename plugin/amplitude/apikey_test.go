package amplitude

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/tidwall/gjson"

	"github.com/connect-amplitude/connect-amplitude/internal/secretfile"
	"github.com/connect-amplitude/connect-amplitude/internal/secretfile/secretfiletest"
	"github.com/connect-amplitude/connect-amplitude/internal/testutil"
)

// keyRecorder is an Amplitude stand-in that accepts every request and
// records the API key each event came with.
type keyRecorder struct {
	mu    sync.Mutex
	keyOf map[string][]string // insert_id -> keys of the requests holding it
}

func startKeyRecorder(t *testing.T) (*keyRecorder, string) {
	t.Helper()
	k := &keyRecorder{keyOf: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := gjson.GetBytes(body, "api_key").String()
		k.mu.Lock()
		for _, ev := range gjson.GetBytes(body, "events").Array() {
			id := ev.Get("insert_id").String()
			k.keyOf[id] = append(k.keyOf[id], key)
		}
		k.mu.Unlock()
		_, _ = io.WriteString(w, `{"code":200}`)
	}))
	t.Cleanup(srv.Close)
	return k, srv.URL
}

// expectKey checks each event arrived once, with the key.
func (k *keyRecorder) expectKey(t *testing.T, sent [][]byte, key string) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, ev := range sent {
		id := gjson.GetBytes(ev, "insert_id").String()
		if got := k.keyOf[id]; len(got) != 1 || got[0] != key {
			t.Errorf("event %s arrived with the keys %q, want once with %q", id, got, key)
		}
	}
}

// A key file being rewritten, or a secret mount going away for a moment,
// must not stop delivery: the output keeps the key it read last, logs why
// without the key, and takes up the file's key again once it is back.
func TestAKeyFileThatCannotBeReadKeepsTheKeyReadBefore(t *testing.T) {
	for _, b := range secretfiletest.Breakages {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			rec, url := startKeyRecorder(t)
			keyFile := filepath.Join(t.TempDir(), "amplitude.key")
			if err := os.WriteFile(keyFile, []byte("the-old-key\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := startPipeline(t, url, fmt.Sprintf(`{api_key: "", api_key_file: %q}`, keyFile))
			wait := func() { time.Sleep(secretfile.Recheck + 200*time.Millisecond) } // the file is looked at again

			before := events(b.Name+"-before", 20)
			p.send(t, before, 10)
			rec.expectKey(t, before, "the-old-key")

			if err := b.Apply(keyFile); err != nil {
				t.Fatal(err)
			}
			wait()
			during := events(b.Name+"-during", 20)
			p.send(t, during, 10)
			rec.expectKey(t, during, "the-old-key")

			if err := secretfiletest.Replace(keyFile, "the-new-key\n"); err != nil {
				t.Fatal(err)
			}
			wait()
			after := events(b.Name+"-after", 20)
			p.send(t, after, 10)
			rec.expectKey(t, after, "the-new-key")
			p.stop()

			logs := p.logs.String()
			if !strings.Contains(logs, "Cannot read the API key again") || !strings.Contains(logs, "api_key_file") || !strings.Contains(logs, b.Cause) {
				t.Errorf("the logs do not say why the key file was not read (%q):\n%s", b.Cause, logs)
			}
			if strings.Contains(logs, "Amplitude refuses the requests") {
				t.Errorf("the output held events as a configuration fault though it had a key:\n%s", logs)
			}
			if strings.Contains(logs, "the-old-key") || strings.Contains(logs, "the-new-key") {
				t.Errorf("the logs show a key:\n%s", logs)
			}
		})
	}
}

func TestKeyConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.key")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, yaml, err string }{
		{"neither", `api_key: ""`, "one of api_key and api_key_file must be set"},
		{"a key of spaces only", `api_key: "  "`, "one of api_key and api_key_file must be set"},
		{"both, the file empty", fmt.Sprintf("api_key: s3cret\napi_key_file: %q", empty), "api_key_file: " + empty + " is empty"},
		{"a missing file", fmt.Sprintf("api_key_file: %q", filepath.Join(dir, "missing")), "api_key_file: stat "},
		{"an empty file", fmt.Sprintf("api_key_file: %q", empty), "api_key_file: " + empty + " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.ExpectConfigError(t, outputSpec(), newOutput, tt.yaml, tt.err)
		})
	}
}

func TestTheKeyFileTakesPrecedenceOverTheLiteralKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amplitude.key")
	if err := os.WriteFile(path, []byte("key-from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := outputSpec().ParseYAML(fmt.Sprintf("api_key: default-key-for-the-emulator\napi_key_file: %q", path), nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := newOutput(conf, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	if key, err := o.keys.Get(); err != nil || key != "key-from-the-file" {
		t.Errorf("the key is %q, %v; want the file's key", key, err)
	}
}
