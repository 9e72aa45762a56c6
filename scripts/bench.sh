#!/usr/bin/env bash
# make bench: throughput, CPU and memory of the connect-amplitude binary end
# to end against the emulator (its own process), the same run with pure
# Bloblang and the host's http_client output, the same events replayed from
# an Avro archive (the avro case), the send stage reading Kafka
# (config/kafka-send.yaml), and the Go benchmarks of each stage. Prints one
# report; everything it measured stays in out/bench/.
#
#   scripts/bench.sh [-n EVENTS] [-runs N] [-baseline-n EVENTS] [-count N] [-no-profile] [-keep-inputs]
#
# -n               events per end-to-end run (default 1,000,000)
# -runs            runs of each end-to-end case but the baseline, in rounds
#                  (default 3): this machine's speed drifts by 10-20% from one
#                  run to the next, and the table shows each case's median run
# -baseline-n      events of the baseline run and of the Kafka case (default:
#                  250,000 or -n if smaller): the baseline is ~10x slower, and
#                  its rate is steady long before; a smaller share keeps
#                  `make bench` under 10 minutes; the Kafka case holds its
#                  topic in bench-e2e's memory
# -count           runs of each Go benchmark, for benchstat (default 6; 0 skips them)
# -no-profile      skip the CPU profiles of the HTTP V2 runs, JSON and Avro (taken when -n >= 1,000,000)
# -keep-inputs     keep the generated input files (about 1.4 GB per million events, JSON and Avro)
set -euo pipefail
cd "$(dirname "$0")/.."

events=1000000
runs=3
baseline_events=""
count=6
profile=1
keep_inputs=0
while [ $# -gt 0 ]; do
	case "$1" in
	-n) events="$2"; shift 2 ;;
	-runs) runs="$2"; shift 2 ;;
	-baseline-n) baseline_events="$2"; shift 2 ;;
	-count) count="$2"; shift 2 ;;
	-no-profile) profile=0; shift ;;
	-keep-inputs) keep_inputs=1; shift ;;
	*) echo "usage: $0 [-n EVENTS] [-runs N] [-baseline-n EVENTS] [-count N] [-no-profile] [-keep-inputs]" >&2; exit 2 ;;
	esac
done
if [ -z "$baseline_events" ]; then
	baseline_events=$((events < 250000 ? events : 250000))
fi

GO=${GO:-go}
out=out/bench
bin=bin
mkdir -p "$out"
rm -f "$out"/results.jsonl "$out"/*.log "$out"/*-dead-letter.jsonl "$out"/go-bench.txt "$out"/*.prof "$out"/report.md
rm -rf "$out"/archive
started=$(date +%s)

for b in connect-amplitude amplitude-emulator currents-gen; do
	[ -x "$bin/$b" ] || { echo "bench: $bin/$b is missing: run make build" >&2; exit 1; }
done
$GO build -o "$bin/bench-e2e" ./cmd/bench-e2e

# Inputs: Currents events of Braze's sample shapes, every event of a known
# user (anonymous ones are filtered by the mapping before the output and
# would not reach the emulator), 200,000 users drawn uniformly with two
# devices each. "hot" adds 3 devices sending 1% of all events, far over
# Amplitude's 30 events/s per device once hours are replayed in seconds.
echo "bench: generating inputs ($events events)"
gen() { "$bin/currents-gen" -users 200000 -anonymous 0 "$@"; }
gen -n "$events" -hot-devices 0 -o "$out/uniform.jsonl"
gen -n "$events" -hot-devices 3 -hot-share 0.01 -o "$out/hot.jsonl"
# The same seed gives the same events: the baseline's input is the start of
# uniform's, and the archive holds uniform's events as Braze's Avro storage
# export would (files of 10,000 records of one type and hour).
gen -n "$baseline_events" -hot-devices 0 -o "$out/baseline.jsonl"
gen -n "$events" -hot-devices 0 -avro "$out/archive"

# run NAME IDS INPUT EVENTS PATH [bench-e2e flags...] -- COMMAND...
run() {
	local name="$1" ids="$2" input="$3" n="$4" path="$5"
	shift 5
	echo "bench: $name, $ids ids, $n events"
	"$bin/bench-e2e" run -name "$name" -ids "$ids" -input "$input" -events "$n" -path "$path" \
		-emulator "$bin/amplitude-emulator" -results "$out/results.jsonl" "$@"
}
# ours API [GZIP]
ours() { echo env BENCH_API="$1" BENCH_GZIP="${2:-false}" "$bin/connect-amplitude" run --log.level warn config/bench/amplitude.yaml; }
# ours_avro API: the same output, the archive read by currents_archive
ours_avro() { echo env BENCH_API="$1" "$bin/connect-amplitude" run --log.level warn config/bench/avro.yaml; }

profile_flags=()
avro_profile_flags=()
# The profile starts 1s into the run and lasts 3s, so that it ends before a
# run of a million events does at 200,000 events/s; smaller runs end sooner.
if [ "$profile" = 1 ] && [ "$events" -ge 1000000 ]; then
	profile_flags=(-profile "$out/http_v2.cpu.prof" -profile-after 1s -profile-for 3s)
	avro_profile_flags=(-profile "$out/http_v2_avro.cpu.prof" -profile-after 1s -profile-for 3s)
fi
failed=0
# Rounds rather than each case N times in a row, so that a slow spell of the
# machine spreads over the cases. The baseline runs once: it is 10x slower,
# and its ratio is far from the target.
for round in $(seq "$runs"); do
	if [ "$runs" -gt 1 ]; then echo "bench: round $round of $runs"; fi
	run "amplitude http_v2" uniform "$out/uniform.jsonl" "$events" /2/httpapi ${profile_flags[@]+"${profile_flags[@]}"} -- $(ours http_v2) || failed=1
	run "amplitude http_v2 avro" uniform "$out/archive" "$events" /2/httpapi ${avro_profile_flags[@]+"${avro_profile_flags[@]}"} -- $(ours_avro http_v2) || failed=1
	profile_flags=() # one profile of each is enough
	avro_profile_flags=()
	run "amplitude http_v2 gzip" uniform "$out/uniform.jsonl" "$events" /2/httpapi -- $(ours http_v2 true) || failed=1
	run "amplitude batch" uniform "$out/uniform.jsonl" "$events" /batch -- $(ours batch) || failed=1
	if [ "$round" = 1 ]; then
		BENCH_BASELINE_MAPPING=config/baseline/currents_to_amplitude.blobl \
			run "baseline http_client" uniform "$out/baseline.jsonl" "$baseline_events" /2/httpapi -- \
			"$bin/connect-amplitude" run --log.level warn config/bench/baseline_http_client.yaml || failed=1
	fi
	# The send stage: the first events of uniform, mapped into a topic of 12
	# partitions of a Kafka cluster inside bench-e2e (kfake).
	run "kafka_franz → amplitude http_v2" uniform "$out/baseline.jsonl" "$baseline_events" /2/httpapi -kafka -- \
		env HTTP_ADDRESS=127.0.0.1:0 "$bin/connect-amplitude" run --log.level warn config/kafka-send.yaml || failed=1
	run "amplitude http_v2" hot "$out/hot.jsonl" "$events" /2/httpapi -- $(ours http_v2) || failed=1
	run "amplitude batch" hot "$out/hot.jsonl" "$events" /batch -- $(ours batch) || failed=1
done
if [ "$keep_inputs" = 0 ]; then
	rm -f "$out/uniform.jsonl" "$out/hot.jsonl" "$out/baseline.jsonl"
	rm -rf "$out/archive"
fi

# Each stage alone. The raw output is benchstat's input:
#   benchstat old/go-bench.txt out/bench/go-bench.txt
# The limiter's memory benchmark measures bytes per id, the same every run:
# once is enough, and each run of it tracks a million ids.
if [ "$count" -gt 0 ]; then
	echo "bench: Go benchmarks of each stage (-count $count)"
	{
		$GO test -run '^$' -bench . -benchmem -count "$count" -benchtime 500ms ./internal/currentsmap/ ./plugin/mapping/ ./internal/ampapi/ &&
			$GO test -run '^$' -bench 'MapRecord' -benchmem -count "$count" -benchtime 500ms ./plugin/avroscan/ &&
			$GO test -run '^$' -bench 'Reserve|Stats' -benchmem -count "$count" -benchtime 500ms ./internal/limiter/ &&
			$GO test -run '^$' -bench 'Memory' -benchmem -count 1 ./internal/limiter/
	} > "$out/go-bench.txt" || failed=1
fi

cat > "$out/notes.txt" <<EOF
Notes: each run is a fresh emulator process (default limits, no -record) and one binary process, timed from start to
exit; CPU (user + system) and peak RSS are the binary's own, from wait4. Both share the machine's cores, as do other
processes (see the load average). Every event is accounted for: ingested once by the emulator, or dead-lettered.
uniform: 200,000 users with two devices each, no hot id. The ratio to the baseline uses these runs: no id nears
Amplitude's limits, so the baseline, which has no limiter, meets no 429 either (see its requests column).
hot: 3 devices send 1% of the events, ~100x Amplitude's 30 events/s each on HTTP V2; the limiter holds their events up
to max_hold (250ms in config/bench/amplitude.yaml), then dead-letters them as device_rate_limited.
The baseline (config/bench/baseline_http_client.yaml) ran on the first $baseline_events events of the uniform input.
kafka_franz: the send stage (config/kafka-send.yaml) on the same $baseline_events events, mapped beforehand into a topic of 12
partitions of a Kafka cluster inside bench-e2e (kfake, sharing the machine's cores): timed from start until every event was
ingested or dead-lettered (joining the consumer group included); its CPU and memory are the binary's own, shutdown included.
avro: the uniform events as an archive of Braze's Avro storage export (currents-gen -avro), replayed by the currents_archive
input and mapped in the currents_avro scanner (config/bench/avro.yaml), with the HTTP V2 case's output and batch size.
EOF
{
	gobench=()
	[ -s "$out/go-bench.txt" ] && gobench=(-gobench "$out/go-bench.txt")
	"$bin/bench-e2e" table -results "$out/results.jsonl" ${gobench[@]+"${gobench[@]}"} -notes "$out/notes.txt"
	echo
	echo "Whole benchmark: $(( $(date +%s) - started ))s. Raw figures: $out/results.jsonl${gobench[@]+, $out/go-bench.txt (for benchstat)}."
	for prof in http_v2 http_v2_avro; do
		[ -s "$out/$prof.cpu.prof" ] || continue
		echo
		# By stage: this project's functions, the host's mapping processor and
		# file input, and the garbage collector, each with what it calls.
		echo "CPU profile of the binary during the ${prof//_avro/ avro} uniform run ($out/$prof.cpu.prof), by stage (cum):"
		echo
		$GO tool pprof -top -cum -nodecount=20 \
			-show 'connect-amplitude/plugin|pure\.\(\*mappingProc\)\.ProcessBatch|io\.\(\*fileConsumer\)\.ReadBatch|runtime\.gcBgMarkWorker$|runtime\.mallocgc$' \
			"$bin/connect-amplitude" "$out/$prof.cpu.prof" 2>/dev/null | grep -v -e '^Active filters' -e '^   show=' | sed -n '4,$p'
	done
} | tee "$out/report.md"
exit "$failed"
