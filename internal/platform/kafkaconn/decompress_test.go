package kafkaconn

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

func decompressorOf(maxBatch int) kgo.Decompressor { return &boundedDecompressor{max: maxBatch} }

func compress(t *testing.T, codec kgo.CompressionCodec, b []byte) ([]byte, kgo.CompressionCodecType) {
	t.Helper()
	c, err := kgo.DefaultCompressor(codec)
	if err != nil {
		t.Fatal(err)
	}
	out, used := c.Compress(new(bytes.Buffer), b)
	return bytes.Clone(out), used
}

var codecs = map[string]kgo.CompressionCodec{
	"gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
	"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
}

// Each codec a producer may use reads back what it wrote, and a batch
// past the ratio or the size bound is refused as franz-go's ErrMaxDecompress
// (which it reports with the batch's offsets), not decompressed.
func TestBoundedDecompression(t *testing.T) {
	var events bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&events, `{"event_id":"%032x","decision_id":"d-%d","action":"ALLOW","reason":"score %d"}`, i*7919, i, i%97)
	}
	bomb := make([]byte, 8<<20)
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			d := decompressorOf(4 << 20)
			src, used := compress(t, codec, events.Bytes())
			got, err := d.Decompress(src, used)
			if err != nil || !bytes.Equal(got, events.Bytes()) {
				t.Fatalf("events (%d bytes, %d compressed): %v, %d bytes back", events.Len(), len(src), err, len(got))
			}
			// 8 MiB of zeros: past the 4 MiB bound (and past 256 times
			// its compressed size, except for snappy, whose blocks hold
			// about 21 times).
			src, used = compress(t, codec, bomb)
			if _, err := d.Decompress(src, used); !errors.Is(err, kgo.ErrMaxDecompress) || errors.Is(err, ErrCorruptBatch) {
				t.Fatalf("8 MiB of zeros under a 4 MiB bound: %v", err)
			}
			// The same under a bound it fits: refused by the ratio alone,
			// unless the codec cannot reach it.
			big := decompressorOf(64 << 20)
			_, err = big.Decompress(src, used)
			if ratio := len(bomb) / len(src); ratio > MaxDecompressionRatio != errors.Is(err, kgo.ErrMaxDecompress) {
				t.Fatalf("8 MiB of zeros compressed %d times: %v", ratio, err)
			}
		})
	}
}

// Snappy in the framing of Kafka's Java producer: each block's decoded
// length is checked against what the batch may still decompress to.
func TestBoundedDecompressionOfXerialSnappy(t *testing.T) {
	frame := func(blocks ...[]byte) []byte {
		out := append(bytes.Clone(xerialMagic), 0, 0, 0, 1, 0, 0, 0, 1)
		for _, b := range blocks {
			enc := s2.EncodeSnappy(nil, b)
			out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
			out = append(out, enc...)
		}
		return out
	}
	a, b := bytes.Repeat([]byte("abc"), 1000), bytes.Repeat([]byte("xyz"), 2000)
	d := decompressorOf(1 << 20)
	got, err := d.Decompress(frame(a, b), kgo.CodecSnappy)
	if err != nil || !bytes.Equal(got, append(bytes.Clone(a), b...)) {
		t.Fatalf("two blocks: %v", err)
	}
	small := decompressorOf(len(a) + len(b) - 1)
	if _, err := small.Decompress(frame(a, b), kgo.CodecSnappy); !errors.Is(err, kgo.ErrMaxDecompress) {
		t.Fatalf("two blocks one byte past the bound: %v", err)
	}
	for name, src := range map[string][]byte{
		"truncated length":   frame(a)[:17],
		"block past the end": binary.BigEndian.AppendUint32(frame(a), 1000),
	} {
		// Corrupt, and reported as ErrMaxDecompress too, for franz-go to
		// stop at it and name its offsets.
		if _, err := d.Decompress(src, kgo.CodecSnappy); !errors.Is(err, ErrCorruptBatch) || !errors.Is(err, kgo.ErrMaxDecompress) {
			t.Errorf("%s: %v, want a corrupt batch", name, err)
		}
		if !Corrupt(src, kgo.CodecSnappy) {
			t.Errorf("%s: not told corrupt", name)
		}
	}
}

func FuzzBoundedDecompression(f *testing.F) {
	for _, codec := range []kgo.CompressionCodecType{kgo.CodecGzip, kgo.CodecSnappy, kgo.CodecLz4, kgo.CodecZstd} {
		f.Add(byte(codec), []byte("not compressed"))
	}
	f.Fuzz(func(t *testing.T, codec byte, src []byte) {
		d := &boundedDecompressor{max: 1 << 20}
		out, err := d.Decompress(src, kgo.CompressionCodecType(codec%5))
		if err == nil && len(out) > d.limit(src) && codec%5 != 0 {
			t.Fatalf("%d bytes from %d", len(out), len(src))
		}
	})
}

// A batch that does not decompress at all (a gzip member followed by bytes
// that are not one, which Kafka's broker takes; garbage; an unknown codec)
// is refused as corrupt, through ErrMaxDecompress, so that franz-go stops
// at it and names its offsets; a bomb is not told corrupt.
func TestCorruptBatchesAreRefusedAsUnreadable(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("records"))
	zw.Close()
	d := decompressorOf(1 << 20)
	for name, c := range map[string]struct {
		src   []byte
		codec kgo.CompressionCodecType
	}{
		"gzip with trailing zeros": {append(gz.Bytes(), make([]byte, 16)...), kgo.CodecGzip},
		"gzip with 4 trailing":     {append(gz.Bytes(), 1, 2, 3, 4), kgo.CodecGzip},
		"zstd garbage":             {[]byte("not zstd at all"), kgo.CodecZstd},
		"lz4 garbage":              {[]byte("not lz4 at all"), kgo.CodecLz4},
		"unknown codec":            {[]byte("x"), 5},
	} {
		if _, err := d.Decompress(c.src, c.codec); !errors.Is(err, ErrCorruptBatch) || !errors.Is(err, kgo.ErrMaxDecompress) || !Corrupt(c.src, c.codec) {
			t.Errorf("%s: %v, want a corrupt batch", name, err)
		}
	}
	src, used := compress(t, kgo.ZstdCompression(), make([]byte, 8<<20))
	if Corrupt(src, used) {
		t.Errorf("a zstd bomb is told corrupt")
	}
}
