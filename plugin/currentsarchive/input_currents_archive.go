// Package currentsarchive provides the currents_archive input, which replays
// an archive of Braze's Currents storage export (a copy of the bucket, or a
// mount of it): the event types and hours chosen, one worker's share of the
// files, resuming after the files a checkpoint lists as finished, and
// reporting its progress. It also provides the currents_archive_dead_letter
// processor, which counts the events its dead-letter route writes.
package currentsarchive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/connect-amplitude/connect-amplitude/internal/backfill"
)

const (
	ciFieldRoot        = "root"
	ciFieldEventTypes  = "event_types"
	ciFieldFrom        = "from"
	ciFieldTo          = "to"
	ciFieldCheckpoint  = "checkpoint"
	ciFieldWorkers     = "workers"
	ciFieldWorker      = "worker"
	ciFieldScanner     = "scanner"
	ciFieldProgress    = "progress"
	ciFieldLogInterval = "log_interval"
	ciFieldTerminal    = "terminal"

	// MetaPath is the metadata holding the path of the file an event came
	// from, as the file input names it.
	MetaPath = "path"
)

func inputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Replays an archive of Braze's Currents storage export: the event types and hours chosen, one worker's share of the files, skipping the files an earlier run finished, and reporting its progress.").
		Description(`
The archive is a directory laid out as Braze writes its bucket (a downloaded copy, or a mount):

`+"```"+`
<root>/.../dataexport.<cluster>.S3.integration.<id>/event_type=<type>/date=<YYYY-MM-DD-HH>/version=<n>/<env>/<...>.avro
`+"```"+`

The input lists the directories down to the `+"`event_type=`"+` directories, then only those of the chosen types, then only their `+"`date=`"+` directories within the chosen hours: no file outside the selection is listed or opened. The files are read one after the other, by hour and then by path, with the `+"`scanner`"+` (by default `+"`currents_avro`"+`); each message gets the metadata `+"`"+MetaPath+"`"+`, the file's path.

== Resuming

Once every event of a file has been acknowledged (sent, or dead-lettered by the output), the file is written to the `+"`checkpoint`"+`, a small text file, with one synced line per file. A backfill started again with the same checkpoint skips those files, so running a finished backfill again sends nothing. A file that was being read when the backfill stopped (a crash, a kill, a shutdown) is read again from its start: some of its events reach Amplitude a second time, and Amplitude keeps one of each, since their `+"`insert_id`"+` (the Currents event id) is the same. A file that fails (damaged, unreadable) is not written to the checkpoint: the events of its blocks before the damage were sent, and the next run reads it again.

== Many workers

`+"`workers`"+` and `+"`worker`"+` split the archive: each file belongs to one worker, chosen by a hash of its path from the `+"`event_type=`"+` segment on, so that workers may mount the archive at different places. Run N instances with the same `+"`workers`"+`, the worker numbers 0 to N-1 and a checkpoint each. A device's events are then spread over several workers' files, and each worker's `+"`amplitude`"+` output holds only its own share of the device's rate: when per-device limits matter, send through the Kafka stage instead (see docs/avro-backfill.md).

== Progress

Every second the input updates its metrics: `+"`currents_archive_files_total`, `_files_done`, `_files_failed`, `_files_skipped`, `_events_read`, `_events_sent`, `_events_dead_lettered`, `_events_left_out`, `_events_per_second` and `_seconds_left`"+` (-1 while unknown). When stderr is a terminal it draws one line there, updated in place, and ends it with a summary; otherwise it logs the same line every `+"`progress.log_interval`"+`, and the summary at the end. Events count as dead-lettered when the `+"`currents_archive_dead_letter`"+` processor sees them on the dead-letter route; as left out when the scanner's mapping leaves them out (`+"`currents_avro`'s `currents_to_amplitude`"+`). The time left is the size of the files still to read over the pace of the last ten seconds.
`).
		Fields(
			service.NewStringField(ciFieldRoot).
				Description("The archive's directory: the one holding the `dataexport.<cluster>.S3.integration.<id>` directories, or any directory above them.").
				Example("./currents"),
			service.NewStringListField(ciFieldEventTypes).
				Description("The Currents event types to replay, as globs (`*` crosses dots); an entry may hold several, separated by commas. Empty replays every type.").
				Example([]any{"users.messages.email.*", "users.behaviors.Purchase"}).
				Default([]any{}),
			service.NewStringField(ciFieldFrom).
				Description("The first hour to replay, UTC, as Braze writes it in `date=` (`2024-01-31-05`), or a day (`2024-01-31`, from its first hour). Empty starts at the first file.").
				Example("2024-01-01").
				Default(""),
			service.NewStringField(ciFieldTo).
				Description("The last hour to replay, included, in the same forms; a day ends at its last hour. Empty goes to the last file.").
				Example("2024-01-31").
				Default(""),
			service.NewStringField(ciFieldCheckpoint).
				Description("The checkpoint file: the files whose every event was acknowledged, one line each. It is created if missing, read at the start and appended to. Give each worker its own. Empty keeps no checkpoint: every run reads every file.").
				Default("currents-archive.checkpoint"),
			service.NewIntField(ciFieldWorkers).
				Description("The number of workers sharing the archive.").
				Default(1),
			service.NewIntField(ciFieldWorker).
				Description("This worker's number, from 0 to `workers` - 1.").
				Default(0),
			service.NewScannerField(ciFieldScanner).
				Description("The scanner that reads each file.").
				Default(map[string]any{"currents_avro": map[string]any{}}),
			service.NewObjectField(ciFieldProgress,
				service.NewDurationField(ciFieldLogInterval).
					Description("How often to log the progress line when stderr is not a terminal; `0s` logs only the summary.").
					Default("30s"),
				service.NewBoolField(ciFieldTerminal).
					Description("Draw the progress line on stderr when it is a terminal.").
					Default(true),
			).Description("How the progress is reported, besides the metrics.").
				Advanced(),
		).
		Example("Replay January for two event types", "The events are mapped in the scanner and sent with the Batch API; see config/avro-backfill.yaml for the dead-letter routes.", `
input:
  currents_archive:
    root: ./currents
    event_types: [ "users.messages.email.*", "users.behaviors.Purchase" ]
    from: "2024-01-01"
    to: "2024-01-31"
    checkpoint: ./january.checkpoint
    scanner:
      currents_avro:
        batch_size: 1000
        currents_to_amplitude: {}
output:
  amplitude:
    api: batch
    api_key: "${AMPLITUDE_API_KEY}"
`).
		Example("Worker 2 of 4", "Each of four machines runs this config with its own WORKER, 0 to 3.", `
input:
  currents_archive:
    root: /mnt/currents
    workers: 4
    worker: ${WORKER}
    checkpoint: ./worker-${WORKER}.checkpoint
`)
}

func init() {
	service.MustRegisterBatchInput("currents_archive", inputSpec(),
		func(conf *service.ParsedConfig, res *service.Resources) (service.BatchInput, error) {
			in, err := newInput(conf, res)
			if err != nil {
				return nil, err
			}
			return service.AutoRetryNacksBatched(in), nil
		})
}

type input struct {
	root       string
	sel        backfill.Selection
	share      backfill.Share
	checkpoint string
	scanner    *service.OwnedScannerCreator
	log        *service.Logger
	report     *reporter

	counters *backfill.Counters
	ctx      context.Context // carries the counters to the scanner and onto messages

	// mu keeps Close from closing the scanner under a ReadBatch: the
	// auto-retry wrapper reads in its own goroutine.
	mu        sync.Mutex
	connected bool
	files     []backfill.File
	next      int
	cur       *service.OwnedScanner
	curPath   any           // the metadata value, boxed once per file
	curEvents *atomic.Int64 // emitted from the file

	ckMu sync.Mutex
	ck   *os.File
}

func newInput(conf *service.ParsedConfig, res *service.Resources) (*input, error) {
	in := &input{log: res.Logger(), counters: &backfill.Counters{}}
	in.ctx = backfill.WithCounters(context.Background(), in.counters)
	var err error
	if in.root, err = conf.FieldString(ciFieldRoot); err != nil {
		return nil, err
	}
	if in.root == "" {
		return nil, fmt.Errorf("%s: empty, want the archive's directory", ciFieldRoot)
	}
	types, err := conf.FieldStringList(ciFieldEventTypes)
	if err != nil {
		return nil, err
	}
	from, err := conf.FieldString(ciFieldFrom)
	if err != nil {
		return nil, err
	}
	to, err := conf.FieldString(ciFieldTo)
	if err != nil {
		return nil, err
	}
	if in.sel, err = backfill.NewSelection(types, from, to); err != nil {
		return nil, err
	}
	if in.checkpoint, err = conf.FieldString(ciFieldCheckpoint); err != nil {
		return nil, err
	}
	if in.share.Workers, err = conf.FieldInt(ciFieldWorkers); err != nil {
		return nil, err
	}
	if in.share.Worker, err = conf.FieldInt(ciFieldWorker); err != nil {
		return nil, err
	}
	if err := in.share.Validate(); err != nil {
		return nil, err
	}
	if in.scanner, err = conf.FieldScanner(ciFieldScanner); err != nil {
		return nil, err
	}
	interval, err := conf.FieldDuration(ciFieldProgress, ciFieldLogInterval)
	if err != nil {
		return nil, err
	}
	terminal, err := conf.FieldBool(ciFieldProgress, ciFieldTerminal)
	if err != nil {
		return nil, err
	}
	in.report = newReporter(in.counters, res, interval, terminal && isTerminal(os.Stderr), os.Stderr)
	return in, nil
}

// Connect lists the selected files and reads the checkpoint, once.
func (in *input) Connect(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.connected {
		return nil
	}
	all, err := backfill.Walk(os.DirFS(in.root), in.sel)
	if err != nil {
		return fmt.Errorf("listing the archive %s: %w", in.root, err)
	}
	done, err := in.openCheckpoint()
	if err != nil {
		return err
	}
	c := in.counters
	var others int
	for _, f := range all {
		switch _, finished := done.Done(f); {
		case !in.share.Owns(f):
			others++
		case finished:
			c.FilesSkipped.Add(1)
		default:
			in.files = append(in.files, f)
			c.FilesTotal.Add(1)
			c.BytesTotal.Add(f.Size)
		}
	}
	in.log.Infof("currents_archive: %d files to read in %s; %d finished before (%s), %d in other workers' shares", len(in.files), in.root, c.FilesSkipped.Load(), in.checkpointName(), others)
	in.connected = true
	in.report.start()
	return nil
}

func (in *input) checkpointName() string {
	if in.checkpoint == "" {
		return "no checkpoint"
	}
	return in.checkpoint
}

// openCheckpoint reads the checkpoint and leaves it open for appending after
// its last whole line.
func (in *input) openCheckpoint() (backfill.Checkpoint, error) {
	if in.checkpoint == "" {
		return backfill.Checkpoint{}, nil
	}
	f, err := os.OpenFile(in.checkpoint, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ciFieldCheckpoint, err)
	}
	done, whole, err := backfill.LoadCheckpoint(f)
	if err == nil && whole == 0 {
		_, err = f.WriteAt([]byte(backfill.CheckpointHeader), 0)
		whole = int64(len(backfill.CheckpointHeader))
	}
	if err == nil {
		err = f.Truncate(whole) // a line cut short by a crash
	}
	if err == nil {
		_, err = f.Seek(whole, io.SeekStart)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s %s: %w", ciFieldCheckpoint, in.checkpoint, err)
	}
	in.ck = f
	return done, nil
}

// finished records a file whose every event was acknowledged.
func (in *input) finished(f backfill.File, events int64) error {
	in.counters.FilesDone.Add(1)
	in.ckMu.Lock()
	defer in.ckMu.Unlock()
	if in.ck == nil {
		return nil
	}
	// One write per line, synced: a crash loses at most the line being
	// written, and that file is read again.
	if _, err := in.ck.Write(backfill.Finished{File: f.Path, Bytes: f.Size, Events: events}.Line()); err != nil {
		return err
	}
	return in.ck.Sync()
}

func (in *input) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for {
		if in.cur == nil {
			if in.next == len(in.files) {
				return nil, nil, service.ErrEndOfInput
			}
			f := in.files[in.next]
			in.next++
			if err := in.open(f); err != nil {
				in.counters.FilesFailed.Add(1)
				in.log.Errorf("currents_archive: %v", err)
				continue
			}
		}
		batch, ackFn, err := in.cur.NextBatch(in.ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// The scanner's error names the file; the file counts as
				// failed when its acknowledgement arrives.
				in.log.Errorf("currents_archive: %v", err)
			}
			_ = in.cur.Close(ctx)
			in.cur = nil
			continue
		}
		for i, m := range batch {
			m.MetaSetMut(MetaPath, in.curPath)
			if backfill.CountersFrom(m.Context()) == nil {
				batch[i] = m.WithContext(in.ctx)
			}
		}
		n := int64(len(batch))
		in.counters.EventsRead.Add(n)
		in.curEvents.Add(n)
		return batch, func(ctx context.Context, err error) error {
			if err == nil {
				in.counters.EventsAcked.Add(n)
			}
			return ackFn(ctx, err)
		}, nil
	}
}

// open starts the scanner on a file; its acknowledgement, once every event
// of the file is acknowledged or the file failed, finishes the file.
func (in *input) open(f backfill.File) error {
	path := filepath.Join(in.root, filepath.FromSlash(f.Path))
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	details := service.NewScannerSourceDetails()
	details.SetName(path)
	events := new(atomic.Int64)
	rd := &countingReader{f: file, n: &in.counters.BytesRead}
	s, err := in.scanner.Create(rd, func(_ context.Context, err error) error {
		if err != nil {
			in.counters.FilesFailed.Add(1)
			return nil
		}
		if err := in.finished(f, events.Load()); err != nil {
			in.log.Errorf("currents_archive: writing %s to the checkpoint %s: %v", f.Path, in.checkpoint, err)
		}
		return nil
	}, details)
	if err != nil {
		file.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	in.cur, in.curPath, in.curEvents = s, any(path), events
	return nil
}

func (in *input) Close(ctx context.Context) error {
	var errs []error
	in.mu.Lock()
	if in.cur != nil {
		errs = append(errs, in.cur.Close(ctx))
		in.cur = nil
	}
	in.mu.Unlock()
	in.report.stop()
	in.ckMu.Lock()
	if in.ck != nil {
		errs = append(errs, in.ck.Close())
		in.ck = nil
	}
	in.ckMu.Unlock()
	errs = append(errs, in.scanner.Close(ctx))
	return errors.Join(errs...)
}

// countingReader counts the bytes read from a file towards the progress.
type countingReader struct {
	f *os.File
	n *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.n.Add(int64(n))
	return n, err
}

func (r *countingReader) Close() error { return r.f.Close() }
