// Package backfill holds the rules of replaying an archive of Braze's
// Currents storage export: its layout, the selection of event types and
// hours, the share of files of one worker among N, the checkpoint of
// finished files, and the arithmetic of progress. The currents_archive input
// (plugin/currentsarchive) does the I/O around them.
//
// Braze writes one object per batch of events of one type, under
//
//	<prefix>/dataexport.<cluster>.S3.integration.<id>/event_type=<type>/date=<YYYY-MM-DD-HH>/version=<n>/<env>/<...>+<partition>+<offset>.avro
//
// so the event type and the hour of a file are in its path, and a backfill
// of some types and hours only lists the directories that hold them.
package backfill

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

const (
	eventTypeDirPrefix = "event_type="
	dateDirPrefix      = "date="
	// Braze's date segment: the hour, in UTC, of the events in the files.
	hourLayout = "2006-01-02-15"
	dayLayout  = "2006-01-02"
)

// File is one file of the archive that a backfill reads.
type File struct {
	Path      string    // relative to the archive's root, slash-separated
	EventType string    // from its event_type= segment
	Hour      time.Time // the first hour of its date= segment, UTC
	Size      int64
}

// ShareKey is the part of the path from the event_type= segment on: the
// same for every worker, wherever each mounts or copies the archive.
func (f File) ShareKey() string {
	if i := strings.Index(f.Path, eventTypeDirPrefix); i >= 0 {
		return f.Path[i:]
	}
	return f.Path
}

// Walk lists the files of the archive in fsys that sel selects, in the order
// a backfill replays them: by hour, then by path. It lists the directories
// above the event_type= directories, and only the event_type= directories
// sel selects, and only the date= directories of those within its hours: it
// never lists or opens anything outside the selection.
//
// Files whose names start with "." or "_" (partial uploads, manifests) are
// not events and are left out.
func Walk(fsys fs.FS, sel Selection) ([]File, error) {
	var files []File
	if err := walkAbove(fsys, ".", sel, &files); err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b File) int {
		if c := a.Hour.Compare(b.Hour); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	return files, nil
}

// walkAbove looks for the directories that hold event_type= directories
// (Braze's dataexport.<cluster>.S3.integration.<id>), at any depth.
func walkAbove(fsys fs.FS, dir string, sel Selection, files *[]File) error {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return err
	}
	integration := slices.ContainsFunc(entries, func(e fs.DirEntry) bool {
		return e.IsDir() && strings.HasPrefix(e.Name(), eventTypeDirPrefix)
	})
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := path.Join(dir, e.Name())
		if !integration {
			if err := walkAbove(fsys, sub, sel, files); err != nil {
				return err
			}
			continue
		}
		eventType, ok := strings.CutPrefix(e.Name(), eventTypeDirPrefix)
		if !ok || !sel.SelectsType(eventType) {
			continue
		}
		if err := walkType(fsys, sub, eventType, sel, files); err != nil {
			return err
		}
	}
	return nil
}

func walkType(fsys fs.FS, dir, eventType string, sel Selection, files *[]File) error {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		date, ok := strings.CutPrefix(e.Name(), dateDirPrefix)
		if !e.IsDir() || !ok {
			continue
		}
		first, last, err := ParseDate(date)
		if err != nil {
			return fmt.Errorf("%s: %w", path.Join(dir, e.Name()), err)
		}
		if !sel.SelectsHours(first, last) {
			continue
		}
		err = fs.WalkDir(fsys, path.Join(dir, e.Name()), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if name := d.Name(); d.IsDir() || name[0] == '.' || name[0] == '_' || !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			*files = append(*files, File{Path: p, EventType: eventType, Hour: first, Size: info.Size()})
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ParseDate reads the value of a date= segment: an hour (2024-01-31-05, as
// Braze writes it) or a day (2024-01-31), and returns its first and last hour.
func ParseDate(s string) (first, last time.Time, err error) {
	if t, err := time.Parse(hourLayout, s); err == nil {
		return t, t, nil
	}
	if t, err := time.Parse(dayLayout, s); err == nil {
		return t, t.Add(23 * time.Hour), nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("date %q is neither YYYY-MM-DD-HH nor YYYY-MM-DD", s)
}
