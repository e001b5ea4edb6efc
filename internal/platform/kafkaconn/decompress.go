package kafkaconn

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A record batch on a topic anyone with produce rights writes is hostile
// input: a few hundred kilobytes of zstd decompress to gigabytes. franz-go
// bounds one batch at 1 GiB and decompresses every batch of a fetch before
// it returns any: one such batch took a test process running the sealer to 9.8 GB of
// memory (the compression bomb test in internal/testbed/e2e). Readers of
// the topics build their clients with BoundedDecompression: a batch may
// decompress to at most MaxDecompressionRatio times its compressed size
// and at most the given bytes, so a fetch of F compressed bytes holds at
// most 256·F decompressed, whatever it carries. A batch past either bound
// is refused with kgo.ErrDecompressTooLarge (its offsets named), for the
// reader to handle; it is decompressed no further than the bound (zstd,
// decoded whole for speed, up to the bytes' bound for a moment).

// MaxDecompressionRatio is how many times its compressed size a record
// batch may decompress to. Event JSON compresses about 5 to 20 times; a
// batch past 256 times is a bomb or padding no producer of ours writes.
const MaxDecompressionRatio = 256

// DefaultMaxBatchBytes is the default bound of one decompressed batch: 16
// times the 1 MiB a producer's batch holds by default (Kafka's
// max.message.bytes, franz-go's ProducerBatchMaxBytes, Java's
// max.request.size). With 64 MiB, 16 batches of 270 KB just under both
// bounds took the sealer's heap up by 2 GiB (an attack helper's
// TestAttack33bBatchesJustUnderTheBoundsStayUnderTheSealersMemory), past
// its pod's 1 GiB.
const DefaultMaxBatchBytes = 16 << 20

// BoundedDecompression returns the client options that bound what one
// record batch decompresses to (maxBatch bytes, 0 for the default).
func BoundedDecompression(maxBatch int) []kgo.Opt {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatchBytes
	}
	return []kgo.Opt{kgo.WithDecompressor(&boundedDecompressor{max: maxBatch})}
}

type boundedDecompressor struct {
	max  int
	zstd sync.Pool // *zstd.Decoder
}

// limit is what src may decompress to.
func (d *boundedDecompressor) limit(src []byte) int {
	return min(d.max, MaxDecompressionRatio*len(src))
}

// ErrCorruptBatch is wrapped, together with kgo.ErrMaxDecompress, by the
// error of a batch that does not decompress at all (corrupt, or of an
// unknown codec): franz-go then reports it as kgo.ErrDecompressTooLarge,
// with its offsets, and stops at it, for its reader to pass it over as it
// passes over a bomb. Before, franz-go fetched such a batch again and
// again and the sealer sealed nothing more: a gzip member followed by
// bytes that are not one, which Kafka's broker (java.util.zip) takes and
// Go's gzip reader refuses, stopped it for good
// (TestAttack33bAGzipBatchWithTrailingBytesDoesNotStopTheSealer).
var ErrCorruptBatch = errors.New("the record batch does not decompress")

// Decompress implements kgo.Decompressor.
func (d *boundedDecompressor) Decompress(src []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	out, err := d.decompress(src, codec)
	if err != nil && !errors.Is(err, kgo.ErrMaxDecompress) {
		err = fmt.Errorf("%w: %w: %w", kgo.ErrMaxDecompress, ErrCorruptBatch, err)
	}
	return out, err
}

// Corrupt reports a batch's records, compressed with codec, that do not
// decompress at all (not one that decompresses past the bounds).
func Corrupt(records []byte, codec kgo.CompressionCodecType) bool {
	d := boundedDecompressor{max: DefaultMaxBatchBytes}
	_, err := d.Decompress(records, codec)
	return errors.Is(err, ErrCorruptBatch)
}

func (d *boundedDecompressor) decompress(src []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	limit := d.limit(src)
	switch codec {
	case kgo.CodecNone:
		return src, nil
	case kgo.CodecGzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		hint := 8 * len(src)
		if len(src) >= 4 { // the trailer's ISIZE: the size modulo 2^32, a hint only
			hint = int(binary.LittleEndian.Uint32(src[len(src)-4:]))
		}
		return readBounded(r, limit, hint)
	case kgo.CodecLz4:
		return readBounded(lz4.NewReader(bytes.NewReader(src)), limit, 8*len(src))
	case kgo.CodecZstd:
		dec, _ := d.zstd.Get().(*zstd.Decoder)
		if dec == nil {
			var err error
			// The window a frame may ask for is bounded too: a frame
			// header claiming a huge one is refused before any read.
			dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxMemory(uint64(d.max)), zstd.WithDecoderMaxWindow(uint64(min(d.max, 1<<30))))
			if err != nil {
				return nil, err
			}
		}
		defer d.zstd.Put(dec)
		// Decoded whole (streaming costs about twice as much): at most
		// the decoder's max in memory for a moment, then held to limit.
		out, err := dec.DecodeAll(src, make([]byte, 0, min(8*len(src), limit)))
		switch {
		case errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded):
			return nil, fmt.Errorf("%w: %w", kgo.ErrMaxDecompress, err)
		case err != nil:
			return nil, err
		case len(out) > limit:
			return nil, fmt.Errorf("%w: past %d bytes", kgo.ErrMaxDecompress, limit)
		}
		return out, nil
	case kgo.CodecSnappy:
		return snappyBounded(src, limit)
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}

// readBounded reads r whole, refusing more than limit bytes. Its buffer
// starts at hint bytes (at most limit), so that a batch of the usual
// ratio is read without growing it.
func readBounded(r io.Reader, limit, hint int) ([]byte, error) {
	out := bytes.NewBuffer(make([]byte, 0, min(max(hint, 512), limit+bytes.MinRead)))
	n, err := out.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("%w: past %d bytes", kgo.ErrMaxDecompress, limit)
	}
	return out.Bytes(), nil
}

// xerialMagic starts snappy in the framing of Kafka's Java producer: the
// magic, two 4-byte versions, then blocks of a 4-byte big-endian length
// and a snappy block.
var xerialMagic = []byte{130, 83, 78, 65, 80, 80, 89, 0}

// snappyBounded decodes raw snappy or xerial-framed snappy, checking each
// block's decoded length (its header) against what is left of limit before
// decoding it.
func snappyBounded(src []byte, limit int) ([]byte, error) {
	if len(src) <= 16 || !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(nil, src, limit)
	}
	var out []byte
	for rest := src[16:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, errors.New("snappy: truncated xerial block length")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, errors.New("snappy: xerial block longer than the batch")
		}
		var err error
		if out, err = snappyBlock(out, rest[:n], limit-len(out)); err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	return out, nil
}

// snappyBlock appends the decoding of one snappy block to dst.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%w: past %d bytes", kgo.ErrMaxDecompress, limit)
	}
	at := len(dst)
	dst = slices.Grow(dst, n)[:at+n]
	if _, err := s2.Decode(dst[at:], block); err != nil {
		return nil, err
	}
	return dst, nil
}

// PassedOver keeps the batches franz-go refused under BoundedDecompression
// for a reader that does not need them (the indexers and Sealed-mode
// producers, which read the sealed topic only the sealer writes), and
// moves the client past each once a poll holds no record of its
// partition: the records before it in the same fetch are handed over
// first. franz-go fetches a partition no more after such a batch until
// told where to go on.
//
// franz-go drops every fetch it holds unpolled when the client is moved
// (SetOffsets) or loses a partition in a rebalance, and with them the
// refusals of other partitions, whose cursors stay stopped, silently: an
// attack helper's flood of small bombs on each partition, and CI runs of
// TestACompressionBombOnTheSealedTopicDoesNotStopTheIndexer, left
// partitions stopped for good. So PassedOver also learns of each refusal
// from franz-go's log line (Logger), which no drop takes back, and sets
// each partition refused and not reported by a poll back at its batch, to
// be fetched and reported again. It never sets a partition franz-go has
// not stopped: one set back where it was read next fetched again what
// followed its last record, and an aborted transaction there was
// decompressed again at every move, and every 5 s while idle
// (TestAttack34AnIdleIndexerReadsAnAbortedTailAgainEvery5s).
type PassedOver struct {
	pending map[kafkaPartition]*kgo.ErrDecompressTooLarge
	// stopped holds the partitions franz-go said it stopped (Logger), at
	// the offset of the batch it refused, until a poll reports the
	// refusal or the client is moved past or back to it. Written on
	// franz-go's goroutines.
	mu      sync.Mutex
	stopped map[kafkaPartition]int64
	// lastSet is where this reader last set each partition (move).
	lastSet map[kafkaPartition]kgo.EpochOffset
}

// resumeEvery is how long a reader's poll waits at most: a refusal
// dropped while the poll waited (a rebalance) is acted on by then.
const resumeEvery = 5 * time.Second

type kafkaPartition struct {
	topic     string
	partition int32
}

// stoppedMessage is the line franz-go (v1.22) logs, with the keys topic,
// partition and offset, when it stops a partition at a refused batch.
// TestAPartitionWhoseRefusalWasDroppedIsReadAgain fails if it changes.
const stoppedMessage = "batch decompresses larger than MaxDecompressBatchBytes, stopping consuming the partition; skip the batch with SetOffsets"

// Logger wraps the franz-go logger of the reader's client, to learn from
// it of each partition franz-go stops at a refused batch.
func (u *PassedOver) Logger(next kgo.Logger) kgo.Logger { return stopWatch{next, u} }

type stopWatch struct {
	kgo.Logger
	u *PassedOver
}

func (l stopWatch) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if msg == stoppedMessage {
		var at kafkaPartition
		offset := int64(-1)
		for i := 0; i+1 < len(keyvals); i += 2 {
			switch keyvals[i] {
			case "topic":
				at.topic, _ = keyvals[i+1].(string)
			case "partition":
				at.partition, _ = keyvals[i+1].(int32)
			case "offset":
				offset, _ = keyvals[i+1].(int64)
			}
		}
		if at.topic != "" && offset >= 0 {
			l.u.mu.Lock()
			if l.u.stopped == nil {
				l.u.stopped = map[kafkaPartition]int64{}
			}
			l.u.stopped[at] = offset
			l.u.mu.Unlock()
		}
	}
	l.Logger.Log(level, msg, keyvals...)
}

// Note keeps err's batch if err is a batch refused as too large.
func (u *PassedOver) Note(err error) bool {
	tl, ok := errors.AsType[*kgo.ErrDecompressTooLarge](err)
	if !ok {
		return false
	}
	if u.pending == nil {
		u.pending = map[kafkaPartition]*kgo.ErrDecompressTooLarge{}
	}
	u.pending[kafkaPartition{tl.Topic, tl.Partition}] = tl
	return true
}

// Pass moves cl past each noted batch whose partition fetches holds no
// record of, and each partition franz-go stopped without a poll
// reporting it back to its batch, and returns the batches passed. Call it
// after every poll, with that poll's fetches.
func (u *PassedOver) Pass(cl *kgo.Client, fetches kgo.Fetches) []*kgo.ErrDecompressTooLarge {
	// Every poll of every reader comes here: with nothing refused, it
	// returns before it looks at the fetches or makes anything.
	u.mu.Lock()
	idle := len(u.pending) == 0 && len(u.stopped) == 0
	u.mu.Unlock()
	if idle {
		return nil
	}
	polled := map[kafkaPartition]bool{}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) > 0 {
			polled[kafkaPartition{p.Topic, p.Partition}] = true
		}
	})
	set := map[kafkaPartition]kgo.EpochOffset{}
	back := map[kafkaPartition]bool{} // set back at their batch
	var passed []*kgo.ErrDecompressTooLarge
	for at, tl := range u.pending {
		if polled[at] {
			continue
		}
		passed = append(passed, tl)
		delete(u.pending, at)
		set[at] = kgo.EpochOffset{Epoch: tl.Epoch, Offset: tl.NextOffset}
	}
	u.mu.Lock()
	for at, offset := range u.stopped {
		_, reported := u.pending[at] // held until its partition's records are polled
		_, passing := set[at]
		switch {
		case reported || passing:
		case polled[at]:
			continue // its records first: the refusal may follow in the next poll
		default:
			set[at] = kgo.EpochOffset{Epoch: -1, Offset: offset}
			back[at] = true
		}
		delete(u.stopped, at)
	}
	u.mu.Unlock()
	if len(set) > 0 {
		u.move(cl, set, back)
		// The fetch move's first set starts may have been answered
		// before its second set stopped it, and franz-go then logged a
		// stop below where the partition now reads (at the very batch
		// just passed): that partition is not stopped, and setting it
		// back there read the batch and all after it again
		// (TestAttack34cAMovePastABombIsNotUndoneByTheRefusalItsFirstSetLogs).
		// Every fetch of the first set is done by the time move
		// returns; a stop at or past where a partition was set is its
		// own, and kept.
		u.mu.Lock()
		for at, o := range set {
			if offset, ok := u.stopped[at]; ok && offset < o.Offset {
				delete(u.stopped, at)
			}
		}
		u.mu.Unlock()
	}
	return passed
}

// PollContext is the context of the reader's next poll, which waits at
// most resumeEvery, so that a refusal franz-go dropped while it waited is
// acted on (Pass).
func (u *PassedOver) PollContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, resumeEvery)
}

// move sets each partition of set where it is read next. franz-go's
// group consumer ignores a SetOffsets to the offset a partition was last
// set to (when nothing was polled from it since, and as committed when it
// was assigned), and so left a partition stopped for good: set back at
// its batch once, refused again, and the refusal dropped, setting it there
// again did nothing (TestAPartitionWhoseRefusalWasDroppedIsReadAgain). A
// partition set back at its batch (back), or set where this reader last
// set it, is therefore set twice, first one offset off, so that the
// second is applied, and paused meanwhile: a fetch the first set started
// and the second stopped left a partition, under load, never fetched
// again, neither stopped nor logged
// (TestAttack33cAFloodOfSmallBombsOnTheSealedTopic stalled with every
// partition at one offset, in CI and in 1 or 2 of 3 -race runs side by
// side, when every move set every partition twice unpaused). A partition
// moved past its batch is set once.
func (u *PassedOver) move(cl *kgo.Client, set map[kafkaPartition]kgo.EpochOffset, back map[kafkaPartition]bool) {
	if u.lastSet == nil {
		u.lastSet = map[kafkaPartition]kgo.EpochOffset{}
	}
	off := map[string]map[int32]kgo.EpochOffset{}
	paused := map[string][]int32{}
	to := map[string]map[int32]kgo.EpochOffset{}
	for at, o := range set {
		if to[at.topic] == nil {
			to[at.topic] = map[int32]kgo.EpochOffset{}
		}
		to[at.topic][at.partition] = o
		if last, ok := u.lastSet[at]; back[at] || ok && last == o {
			if off[at.topic] == nil {
				off[at.topic] = map[int32]kgo.EpochOffset{}
			}
			if o.Offset > 0 {
				o.Offset--
			} else {
				o.Offset++
			}
			off[at.topic][at.partition] = kgo.EpochOffset{Epoch: -1, Offset: o.Offset}
			paused[at.topic] = append(paused[at.topic], at.partition)
		}
		u.lastSet[at] = set[at]
	}
	if len(off) > 0 {
		cl.PauseFetchPartitions(paused)
		cl.SetOffsets(off)
		cl.SetOffsets(to)
		cl.ResumeFetchPartitions(paused)
		return
	}
	cl.SetOffsets(to)
}

// Forget drops the refusal a poll reported of a partition revoked from
// the reader: if it is assigned again, franz-go reads it from its
// committed offset and reports a refused batch again. What franz-go
// logged of the partition is kept: a partition revoked and assigned again
// between two polls may have been stopped, and logged, anew by then, and
// a stop forgotten was a partition stopped for good once a move dropped
// its refusal (an attack helper's reading). A stop of a partition no
// longer assigned is ignored by franz-go when set back; one logged before
// the partition was assigned again is dropped by Assigned.
func (u *PassedOver) Forget(topic string, partition int32) {
	delete(u.pending, kafkaPartition{topic, partition})
}

// Assigned drops what franz-go logged of partitions of topic before they
// were assigned to the reader (again): a group reader calls it from its
// OnPartitionsAssigned. franz-go reads a partition assigned from its
// committed offset and logs any stop there anew, after this call; a stop
// logged before was of an earlier assignment, and setting the partition
// back there undid what the group committed meanwhile: a partition
// stopped at a bomb, revoked before its refusal was polled, passed over
// by the member it went to and assigned back within one poll was set back
// at the bomb, which was passed over and committed past again, below the
// other member's commit, and every record after it read again
// (TestAttack34eAStopKeptAcrossARevocationDoesNotUndoAnotherMembersPass).
// Records below the stop would have been skipped had the group committed
// less.
func (u *PassedOver) Assigned(topic string, partitions []int32) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range partitions {
		delete(u.stopped, kafkaPartition{topic, p})
	}
}
