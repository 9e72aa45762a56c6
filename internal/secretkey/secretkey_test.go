package secretkey

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/secretfile"
)

func TestTheKeyFileTakesPrecedenceOverTheLiteral(t *testing.T) {
	if _, err := New(" ", "", time.Now); !errors.Is(err, ErrNone) {
		t.Fatalf("no key: %v", err)
	}
	k, err := New(" literal-key ", "", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if key, err := k.Get(); key != "literal-key" || err != nil || k.FromFile() {
		t.Fatalf("literal: %q, %v", key, err)
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("file-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err = New("literal-key", path, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if key, err := k.Get(); key != "file-key" || err != nil || !k.FromFile() {
		t.Fatalf("file: %q, %v", key, err)
	}
	if _, err := New("literal-key", filepath.Join(t.TempDir(), "missing"), time.Now); err == nil {
		t.Fatal("a missing key file was accepted")
	}
}

func TestFromConfigNamesTheFields(t *testing.T) {
	spec := service.NewConfigSpec().Fields(service.NewStringField("key").Default(""), service.NewStringField("key_file").Default(""))
	parse := func(yaml string, now func() time.Time) (*Key, error) {
		conf, err := spec.ParseYAML(yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		return FromConfig(conf, "key", "key_file", now)
	}
	dir := t.TempDir()
	if _, err := parse("{}", time.Now); err == nil || err.Error() != "one of key and key_file must be set" {
		t.Errorf("neither: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if _, err := parse("key_file: "+missing, time.Now); err == nil || !strings.HasPrefix(err.Error(), "key_file: stat "+missing) {
		t.Errorf("a missing file: %v", err)
	}
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte("file-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	k, err := parse("key_file: "+path, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	now = now.Add(secretfile.Recheck)
	if key, err := k.Get(); key != "file-key" || err == nil || !strings.HasPrefix(err.Error(), "key_file: ") || strings.Contains(err.Error(), "file-key") {
		t.Errorf("a file gone: %q, %v; want the key kept and an error naming key_file", key, err)
	}
}
