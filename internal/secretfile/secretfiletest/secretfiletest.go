// Package secretfiletest lists the ways a secret file breaks under a running
// reader, so that the reader and each component using it are tested against
// the same cases.
package secretfiletest

import "os"

// A Breakage spoils the file at a path; Cause is in the error it brings.
type Breakage struct {
	Name, Cause string
	Apply       func(path string) error
}

// Breakages are a file removed (a secret mount going away), emptied (a file
// being rewritten in place) and unreadable.
var Breakages = []Breakage{
	{Name: "removed", Cause: "no such file", Apply: os.Remove},
	{Name: "emptied", Cause: "is empty", Apply: func(path string) error { return os.WriteFile(path, nil, 0o600) }},
	{Name: "left blank", Cause: "is empty", Apply: func(path string) error { return os.WriteFile(path, []byte(" \n\t\n"), 0o600) }},
	// A directory in its place: root reads any file whatever its mode.
	{Name: "unreadable", Cause: "is a directory", Apply: func(path string) error {
		if err := os.Remove(path); err != nil {
			return err
		}
		return os.Mkdir(path, 0o700)
	}},
}

// Replace writes content at path, whatever is there.
func Replace(path, content string) error {
	if err := os.RemoveAll(path); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o600)
}
