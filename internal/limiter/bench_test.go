package limiter

import (
	"github.com/connect-amplitude/connect-amplitude/internal/ampapi"

	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const benchIDs = 1_000_000

var benchDevices = sync.OnceValue(func() []string {
	ids := make([]string, benchIDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("device-%07d", i)
	}
	return ids
})

// trackingAll returns a limiter with default limits that tracks every benchmark device.
func trackingAll(b *testing.B) *Limiter {
	l := newLimiter(b, defaultPace(ampapi.HTTPV2))
	for _, id := range benchDevices() {
		reserve(l, t0, id, "")
	}
	return l
}

func BenchmarkReserve(b *testing.B) {
	b.Run("hot_id", func(b *testing.B) {
		l := newLimiter(b, defaultPace(ampapi.HTTPV2))
		now := t0
		for b.Loop() {
			if !reserve(l, now, "device-1", "user-1").Allowed {
				b.Fatal("refused")
			}
			now = now.Add(200 * time.Millisecond) // 5 events/s: under the rate and the daily quota
		}
	})

	b.Run("hot_id_refused", func(b *testing.B) {
		l := newLimiter(b, defaultPace(ampapi.HTTPV2))
		sendN(l, t0, "device-1", 3)
		for b.Loop() {
			if reserve(l, t0, "device-1", "user-1").Allowed {
				b.Fatal("allowed")
			}
		}
	})

	b.Run("1M_ids_round_robin", func(b *testing.B) {
		ids, l := benchDevices(), trackingAll(b)
		now, i := t0, 0
		for b.Loop() {
			reserve(l, now, ids[i], "")
			if i++; i == len(ids) {
				i = 0
			}
			now = now.Add(time.Microsecond) // each id once a second
		}
	})

	b.Run("1M_ids_parallel", func(b *testing.B) {
		ids, l := benchDevices(), trackingAll(b)
		var start atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(start.Add(benchIDs/16)) % len(ids)
			now := t0
			for pb.Next() {
				reserve(l, now, ids[i], "")
				if i++; i == len(ids) {
					i = 0
				}
				now = now.Add(time.Microsecond)
			}
		})
	})
}

// BenchmarkMemory reports the heap held per tracked id with a million ids under default limits.
func BenchmarkMemory(b *testing.B) {
	ids := benchDevices()
	var perID float64
	for b.Loop() {
		before := heapAlloc()
		l := newLimiter(b, defaultPace(ampapi.HTTPV2))
		for _, id := range ids {
			reserve(l, t0, id, "")
		}
		perID = float64(heapAlloc()-before) / float64(len(ids))
		runtime.KeepAlive(l)
	}
	b.ReportMetric(perID, "bytes/id")
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func BenchmarkStats(b *testing.B) {
	l := trackingAll(b)
	for b.Loop() {
		l.Stats(t0)
	}
}
