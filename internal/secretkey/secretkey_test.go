package secretkey

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
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
