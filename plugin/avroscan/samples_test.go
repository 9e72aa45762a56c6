package avroscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

// sampleFile is one of Braze's sample Avro files and its avro-tools JSON view.
type sampleFile struct {
	eventType string // the file name, which is the event type
	avroPath  string
	viewPath  string
}

func sampleFiles(t testing.TB) []sampleFile {
	t.Helper()
	dir := samples.Dir(t)
	var files []sampleFile
	for _, d := range [][2]string{{"avro", "sample-json"}, {"avro-removed-from-head", "json-removed-from-head"}} {
		paths, err := filepath.Glob(filepath.Join(dir, d[0], "*.avro"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			name := strings.TrimSuffix(filepath.Base(p), ".avro")
			files = append(files, sampleFile{eventType: name, avroPath: p, viewPath: filepath.Join(dir, d[1], name+".json")})
		}
	}
	if len(files) < 100 {
		t.Fatalf("found %d sample Avro files in %s, expected about 100", len(files), dir)
	}
	return files
}

func TestSampleFilesMatchTheirDecodedViews(t *testing.T) {
	files := sampleFiles(t)
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.avroPath
	}
	pathsJSON, _ := json.Marshal(paths)
	msgs, logs := runStream(t, fmt.Sprintf(`
file:
  paths: %s
  scanner:
    currents_avro: {}
`, pathsJSON))
	if logs != "" {
		t.Errorf("unexpected log output:\n%s", logs)
	}

	byPath := map[string][]received{}
	for _, m := range msgs {
		p, _ := m.meta["path"].(string)
		byPath[p] = append(byPath[p], m)
	}
	for _, f := range files {
		t.Run(f.eventType, func(t *testing.T) {
			got := byPath[f.avroPath]
			sort.Slice(got, func(i, j int) bool {
				return got[i].meta[MetaRecord].(int64) < got[j].meta[MetaRecord].(int64)
			})
			views := readAvroJSONView(t, f.viewPath)
			if len(got) != len(views) {
				t.Fatalf("got %d events, the decoded view has %d records", len(got), len(views))
			}
			schema := fileSchema(t, f.avroPath)
			for i, m := range got {
				if et := m.meta[MetaEventType]; et != f.eventType {
					t.Errorf("metadata %s = %v, want %s", MetaEventType, et, f.eventType)
				}
				checkEventAgainstView(t, f.eventType, schema, views[i], decodeJSON(t, m.data))
			}
		})
	}
}

// checkEventAgainstView checks one emitted event against the avro-tools view
// of its record: same id, time and user ids, every non-null column present in
// its place, nothing else, 32-bit floats rounded.
func checkEventAgainstView(t *testing.T, eventType string, schema *avro.RecordSchema, view, event map[string]any) {
	t.Helper()
	if event["event_type"] != eventType {
		t.Errorf("event_type = %v, want %s", event["event_type"], eventType)
	}
	user, _ := event["user"].(map[string]any)
	props, _ := event["properties"].(map[string]any)
	if user == nil || props == nil {
		t.Fatalf("event lacks the user or properties object: %v", event)
	}
	members := 0
	for _, f := range schema.Fields() {
		name := f.Name()
		want := unwrapAvroJSON(t, f.Type(), view[name])
		place, key, top := props, name, false
		switch {
		case name == "id" || name == "time":
			place, top = event, true
		case userColumns[name]:
			place = user
		case name == embeddedObjectColumn && embeddedObjectKeys[eventType] != "":
			key = embeddedObjectKeys[eventType]
			want = decodeJSON(t, []byte(want.(string)))
		}
		got, present := place[key]
		if want == nil {
			if present {
				t.Errorf("%s: null column is present as %v", key, got)
			}
			continue
		}
		if !present {
			t.Errorf("%s: column missing, want %v", key, want)
			continue
		}
		if !top {
			members++
		}
		if isFloatColumn(f.Type()) {
			widened, _ := want.(json.Number).Float64()
			rounded := strconv.FormatFloat(float64(float32(widened)), 'g', -1, 32)
			if got != json.Number(rounded) {
				t.Errorf("%s = %v, want the float32 %s (view: %s)", key, got, rounded, want)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", key, got, want)
		}
	}
	if extra := len(user) + len(props) - members; extra != 0 {
		t.Errorf("%d members not in the record: user %v, properties %v", extra, user, props)
	}
	if len(event) != 5 {
		t.Errorf("top-level members are %v, want event_type, id, time, user, properties", keys(event))
	}
}

// unwrapAvroJSON turns avro-tools' JSON encoding ({"string": "x"} for union
// values) into plain JSON values, following the schema.
func unwrapAvroJSON(t *testing.T, s avro.Schema, v any) any {
	t.Helper()
	if v == nil {
		return nil
	}
	switch s := s.(type) {
	case *avro.UnionSchema:
		m := v.(map[string]any)
		if len(m) != 1 {
			t.Fatalf("union value %v has %d members", v, len(m))
		}
		for branchName, bv := range m {
			for _, b := range s.Types() {
				if avroJSONBranchName(b) == branchName {
					return unwrapAvroJSON(t, b, bv)
				}
			}
			t.Fatalf("union %s has no branch %s", s, branchName)
		}
	case *avro.ArraySchema:
		items := v.([]any)
		out := make([]any, len(items))
		for i, item := range items {
			out[i] = unwrapAvroJSON(t, s.Items(), item)
		}
		return out
	}
	return v
}

func avroJSONBranchName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

func isFloatColumn(s avro.Schema) bool {
	if u, ok := s.(*avro.UnionSchema); ok {
		for _, b := range u.Types() {
			if b.Type() == avro.Float {
				return true
			}
		}
	}
	return s.Type() == avro.Float
}

// readAvroJSONView reads the concatenated JSON records of an avro-tools dump.
func readAvroJSONView(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var out []map[string]any
	for {
		var v map[string]any
		if err := d.Decode(&v); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
}

func fileSchema(t testing.TB, path string) *avro.RecordSchema {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := openContainer(f)
	if err != nil {
		t.Fatal(err)
	}
	return c.schema.(*avro.RecordSchema)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
