package backfill

import (
	"strings"
	"testing"
)

func TestCheckpointReadsBackTheLinesWritten(t *testing.T) {
	a := Finished{File: "x/event_type=a/date=2024-01-01-00/0.avro", Bytes: 10, Events: 3}
	b := Finished{File: "x/event_type=a/date=2024-01-01-00/1.avro", Bytes: 20, Events: 6}
	text := CheckpointHeader + string(a.Line()) + string(b.Line())
	c, whole, err := LoadCheckpoint(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 2 || c[a.File] != a || c[b.File] != b || whole != int64(len(text)) {
		t.Errorf("loaded %v (%d bytes whole), want both lines (%d bytes)", c, whole, len(text))
	}
	if _, ok := c.Done(File{Path: a.File, Size: 10}); !ok {
		t.Error("a finished file of the same size is not done")
	}
	if _, ok := c.Done(File{Path: a.File, Size: 11}); ok {
		t.Error("a finished file that changed size since is done")
	}
	if _, ok := c.Done(File{Path: "other.avro", Size: 10}); ok {
		t.Error("a file not in the checkpoint is done")
	}
}

func TestCheckpointIgnoresALastLineCutShort(t *testing.T) {
	a := Finished{File: "a.avro", Bytes: 10, Events: 3}
	whole := CheckpointHeader + string(a.Line())
	for _, text := range []string{"", CheckpointHeader[:10], whole + `{"file":"b.av`} {
		c, n, err := LoadCheckpoint(strings.NewReader(text))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		wantN := min(len(whole), len(text))
		if len(text) < len(CheckpointHeader) {
			wantN = 0
		}
		if n != int64(wantN) || len(c) != min(1, wantN/len(whole)) {
			t.Errorf("%q: %v, %d whole bytes; want %d", text, c, n, wantN)
		}
	}
}

func TestCheckpointRefusesAFileThatIsNotOne(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"hello\n", "line 1: not a currents_archive checkpoint"},
		{CheckpointHeader + "{\"file\":\"a\",\"bytes\":1,\"events\":1}\nnot json\n", "line 3: not a finished file"},
		{CheckpointHeader + "{\"path\":\"a\"}\n", "line 2: not a finished file"},
	} {
		if _, _, err := LoadCheckpoint(strings.NewReader(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}
}
