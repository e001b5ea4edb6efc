package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aegisai/audit/internal/platform/kafkaconn"
	"github.com/aegisai/audit/internal/testbed/pipeline"
)

// underBounds is a record batch of one record, zstd, that decompresses to
// just under kafkaconn.DefaultMaxBatchBytes and just under 256 times its
// compressed size: random bytes, then zeros.
func underBounds(t *testing.T) []byte {
	t.Helper()
	const random = 66 << 10
	n := int64(kafkaconn.DefaultMaxBatchBytes - 64)
	body := []byte{0}
	body = binary.AppendVarint(body, 0)
	body = binary.AppendVarint(body, 0)
	body = binary.AppendVarint(body, -1)
	body = binary.AppendVarint(body, n)
	rec := binary.AppendVarint(nil, int64(len(body))+n+1)
	rec = append(rec, body...)
	var comp bytes.Buffer
	enc, err := zstd.NewWriter(&comp, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(rec)
	if _, err := io.CopyN(enc, rand.Reader, random); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(enc, zeros{}, n-random); err != nil {
		t.Fatal(err)
	}
	enc.Write([]byte{0})
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if got := int(n) + len(rec) + 1; got > kafkaconn.MaxDecompressionRatio*comp.Len() || got > kafkaconn.DefaultMaxBatchBytes {
		t.Fatalf("%d bytes from %d: past a bound", got, comp.Len())
	}
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: 4, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: comp.Bytes()}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// vmHWM is the process's peak resident memory, in bytes.
func vmHWM(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmHWM")
	return 0
}

// A producer that bypasses ours writes batches that stay just under both
// bounds: 71 KB of zstd (random bytes, then zeros) that decompress to
// 16 MiB each, 32 of them, 2.3 MB on the topic (with bounds of 64 MiB,
// 16 batches of 270 KB grew the heap by 2 GiB). Each is a record the sealer
// reads and seals as an INVALID entry of its size and hash. The sealer's
// pod is limited to 1 GiB (deploy/kubernetes/aegis.yaml); SECURITY.md
// section 6 says a bomb cannot exhaust its memory. This measures the Go
// heap the sealer holds at its peak while it seals them.
func TestAttack33bBatchesJustUnderTheBoundsStayUnderTheSealersMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	batch := underBounds(t)
	t.Logf("a batch of %d bytes decompresses to %d", len(batch), kafkaconn.DefaultMaxBatchBytes-64)
	const n = 32
	for range n {
		produceBatch(ctx, t, p.Cfg.Topic, batch)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	hwm := vmHWM(t)
	err := p.WaitHead(ctx, n)
	close(done)
	if err != nil {
		t.Fatal(err)
	}
	grown := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use grew by %d MiB at its peak (%d MiB before); peak RSS %d MiB before, %d MiB after", grown>>20, base.HeapInuse>>20, hwm>>20, vmHWM(t)>>20)
	if grown > 768<<20 {
		t.Fatalf("the sealer's heap grew by %d MiB sealing %d batches of %d bytes: past what a pod limited to 1 GiB holds", grown>>20, n, len(batch))
	}
}
