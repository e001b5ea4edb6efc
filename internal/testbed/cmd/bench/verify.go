package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/internal/platform/gctune"
	"github.com/aegisai/audit/internal/testbed/chaos"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// benchChain is a chain written straight into S3 for the read-side
// benchmarks: objects of perObject entries, each with its checkpoint, as
// the sealer lays them out.
type benchChain struct {
	bucket, chain, vkey string
	entries             int
	days                int
}

var verifyEntries = 1_000_000

// verifyProfile, if set, receives a CPU profile of the verification alone.
var verifyProfile string

// buildChain seals n decisions spread over days days into the stack's S3.
func buildChain(ctx context.Context, st *localstack.Stack, n, perObject, days int) (*benchChain, error) {
	cl, err := st.S3(ctx)
	if err != nil {
		return nil, err
	}
	bc := &benchChain{bucket: st.Bucket("bench"), chain: localstack.Name("chain"), entries: n, days: days}
	if err := localstack.CreateLockedBucket(ctx, cl, bc.bucket); err != nil {
		return nil, err
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-"+bc.chain)
	if err != nil {
		return nil, err
	}
	bc.vkey = vkey
	signer, err := shared.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	store := &archive.Store{S3: cl, Bucket: bc.bucket}
	retain := time.Now().Add(24 * time.Hour)
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	g, err := shared.NewGenesis(bc.chain, start, signer.Name(), vkey)
	if err != nil {
		return nil, err
	}
	gl, _ := g.Line()
	put := func(key string, body []byte) error {
		_, err := store.Put(ctx, key, body, retain)
		return err
	}
	sign := func(entries []*shared.Entry, offset int64, key string) error {
		last := entries[len(entries)-1]
		cp := shared.Checkpoint{Chain: bc.chain, Seq: last.Seq, Hash: last.Hash, Offset: offset, Object: key, Root: shared.ObjectRoot(entries), Time: start}
		msg, err := cp.Sign(signer)
		if err != nil {
			return err
		}
		return put(shared.CheckpointKey("audit", bc.chain, last.Seq), msg)
	}
	if err := put(shared.GenesisKey("audit", bc.chain), append(gl, '\n')); err != nil {
		return nil, err
	}
	if err := sign([]*shared.Entry{g}, -1, shared.GenesisKey("audit", bc.chain)); err != nil {
		return nil, err
	}
	head := shared.Head{Chain: bc.chain, Hash: g.Hash, Offset: -1}
	// Objects are written by a few goroutines while the next is sealed.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var werr error
	var mu sync.Mutex
	step := time.Duration(days) * 24 * time.Hour / time.Duration(n)
	for i := 0; i < n; {
		var entries []*shared.Entry
		var body []byte
		day := shared.FileDate(start.Add(time.Duration(i) * step))
		for ; i < n && len(entries) < perObject; i++ {
			ts := start.Add(time.Duration(i) * step)
			if shared.FileDate(ts) != day {
				break
			}
			raw := fmt.Sprintf(`{"type":"decision","event_id":"evt-%d","environment":%q,"occurred_at":%q,"decision":{"decision_id":"dec-%d","action":"ALLOW","confidence_score":0.87,"policy_version":"policy-2026.11","user_id":"user-%d","session_id":"sess-%d","metadata":{"ip_country":"DE","device":"dev-%d","risk":{"velocity":3,"new_device":false}}}}`,
				i, bc.chain, shared.FormatTime(ts), i, i%5000, i%20000, i%97)
			e, err := shared.SealRecord(head, shared.Source{Topic: "decisions", Offset: int64(i), Timestamp: ts}, []byte(raw), ts)
			if err != nil {
				return nil, err
			}
			l, _ := e.Line()
			body = append(append(body, l...), '\n')
			entries = append(entries, e)
			head = head.Next(e)
		}
		key := shared.BatchKey("audit", entries[0])
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := put(key, body)
			if err == nil {
				err = sign(entries, entries[len(entries)-1].Source.Offset, key)
			}
			if err != nil {
				mu.Lock()
				werr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return bc, werr
}

// verifyThroughput: entries per second `aegis verify` checks over a chain
// of -verify-entries entries in S3 (versitygw). Baseline: reading the same
// objects the verification reads, the batches and their checkpoints (16 in
// flight, as Verify's 8 objects ahead with a checkpoint each), and SHA-256
// over their raw bytes. The batches alone are read and printed too (the
// baseline of the benchmark before 2026-11-29's third session), so that
// both figures can be compared with earlier runs.
func verifyThroughput(ctx context.Context, st *localstack.Stack) (result, error) {
	bc, err := buildChain(ctx, st, verifyEntries, 1000, 30)
	if err != nil {
		return result{}, err
	}
	cl, err := st.S3(ctx)
	if err != nil {
		return result{}, err
	}
	store := &archive.Store{S3: cl, Bucket: bc.bucket}
	rawRead := func(what string, keys func(archive.Listing) []string, inFlight int) (float64, error) {
		took, cpu, gw, err := timedReads(ctx, store, bc.chain, keys, inFlight, func(key string, _ bool) error {
			if obj, err := store.Get(ctx, key, ""); err == nil {
				sha256.Sum256(obj.Body)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		fmt.Printf("verify_throughput: raw read of %s %.1f s (%.1f entries/s), this process's CPU %.1f s, versitygw's %.1f s\n",
			what, took, float64(bc.entries)/took, cpu, gw)
		return float64(bc.entries) / took, nil
	}
	batchKeys := func(l archive.Listing) []string {
		keys := make([]string, len(l.Batches))
		for i, b := range l.Batches {
			keys[i] = b.Key
		}
		return keys
	}
	if _, err := rawRead("the batches alone", batchKeys, 8); err != nil {
		return result{}, err
	}
	baseline, err := rawRead("the batches and checkpoints", func(l archive.Listing) []string {
		return append(batchKeys(l), l.Checkpoints...)
	}, 16)
	if err != nil {
		return result{}, err
	}
	// The floor: the S3 reads and the hashing the format requires of any
	// verifier, nothing else: each batch and checkpoint read as Verify
	// reads it (its GET, and its lock asked apart where the GET leaves it
	// out, as versitygw does), its stored checksum recomputed, each line
	// of a batch hashed after the previous hash and the object's Merkle
	// root computed; no line parsed, no rule checked, no signature. No
	// verifier of this log on this server can be faster; it bounds
	// verify_throughput's value and ratio.
	if err := verifyFloor(ctx, store, bc, baseline); err != nil {
		return result{}, err
	}
	if verifyProfile != "" {
		f, err := os.Create(verifyProfile)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		pprof.StopCPUProfile()
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, err
		}
		defer pprof.StopCPUProfile()
	}
	// The verification runs with the collector aegis verify sets; the raw
	// reads above ran with Go's default.
	restore := gctune.Set(gctune.Verifier)
	defer restore()
	cpu, gw := processCPU(), childCPU("versitygw")
	start := time.Now()
	rep, err := replayer.Verify(ctx, replayer.Config{S3: cl, Bucket: bc.bucket, Chain: bc.chain, VerifierKey: bc.vkey})
	if err != nil {
		return result{}, err
	}
	value := float64(rep.Entries) / time.Since(start).Seconds()
	fmt.Printf("verify_throughput: verify %.1f s, this process's CPU %.1f s (%.1f µs an entry), versitygw's %.1f s\n",
		time.Since(start).Seconds(), processCPU()-cpu, (processCPU()-cpu)/float64(rep.Entries)*1e6, childCPU("versitygw")-gw)
	return result{value: value, baseline: baseline, unit: "entries/s"}, nil
}

// verifyFloor reads and hashes what a verification must (see its call)
// with 16 objects in flight and prints its rate and its ratio to the raw
// baseline's.
func verifyFloor(ctx context.Context, store *archive.Store, bc *benchChain, baseline float64) error {
	everyObject := func(l archive.Listing) []string {
		keys := make([]string, 0, len(l.Batches)+len(l.Checkpoints))
		for _, b := range l.Batches {
			keys = append(keys, b.Key)
		}
		return append(keys, l.Checkpoints...)
	}
	took, cpu, gw, err := timedReads(ctx, store, bc.chain, everyObject, 16, func(key string, batch bool) error {
		obj, err := store.GetLocked(ctx, key)
		if err != nil {
			return err
		}
		if sum := sha256.Sum256(obj.Body); obj.LockMode == "" || base64.StdEncoding.EncodeToString(sum[:]) != obj.ChecksumSHA256 {
			return fmt.Errorf("%s: no lock or a checksum that does not match", key)
		}
		if !batch {
			return nil
		}
		var prev shared.Hash
		var leaves []shared.Hash
		for body := obj.Body; len(body) > 0; {
			line := body
			if i := bytes.IndexByte(body, '\n'); i >= 0 {
				line, body = body[:i], body[i+1:]
			} else {
				body = nil
			}
			h := sha256.New()
			h.Write([]byte(shared.EntryHashPrefix))
			h.Write(prev[:])
			h.Write(line)
			h.Sum(prev[:0])
			leaves = append(leaves, prev)
		}
		shared.MerkleRoot(leaves)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("verify_throughput: floor (the S3 reads and hashes the format requires, no parsing, no signature) %.1f s (%.1f entries/s, ratio %.3f to the raw read), this process's CPU %.1f s, versitygw's %.1f s\n",
		took, float64(bc.entries)/took, float64(bc.entries)/took/baseline, cpu, gw)
	return nil
}

// timedReads lists chain, runs read on each key keys picks from the
// listing (batch: the key is one of its batches) with inFlight at once,
// and returns the seconds it took and the CPU seconds this process and
// versitygw spent meanwhile; the first error read returns is its error.
func timedReads(ctx context.Context, store *archive.Store, chain string, keys func(archive.Listing) []string, inFlight int,
	read func(key string, batch bool) error) (took, cpu, gw float64, err error) {
	cpu0, gw0 := processCPU(), childCPU("versitygw")
	start := time.Now()
	l, err := store.Log(ctx, chain)
	if err != nil {
		return 0, 0, 0, err
	}
	batches := make(map[string]bool, len(l.Batches))
	for _, b := range l.Batches {
		batches[b.Key] = true
	}
	var first sync.Once
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	for _, key := range keys(l) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if rerr := read(key, batches[key]); rerr != nil {
				first.Do(func() { err = rerr })
			}
		}()
	}
	wg.Wait()
	return time.Since(start).Seconds(), processCPU() - cpu0, childCPU("versitygw") - gw0, err
}

// verifyRSS: peak resident memory of a verification in its own process,
// over chains of two lengths (the figure is the longer; both are printed).
func verifyRSS(ctx context.Context, st *localstack.Stack) (result, error) {
	var peaks []float64
	for _, n := range []int{verifyEntries / 4, verifyEntries} {
		bc, err := buildChain(ctx, st, n, 1000, 30)
		if err != nil {
			return result{}, err
		}
		self, err := os.Executable()
		if err != nil {
			return result{}, err
		}
		cmd := exec.CommandContext(ctx, self, "-verify-child", bc.bucket+","+bc.chain+","+st.S3Endpoint)
		s3cfg := st.S3Config()
		cmd.Env = append(os.Environ(), "AEGIS_BENCH_VKEY="+bc.vkey, "AEGIS_BENCH_S3_REGION="+s3cfg.Region,
			"AEGIS_BENCH_S3_ACCESS_KEY_ID="+s3cfg.AccessKeyID, "AEGIS_BENCH_S3_SECRET_ACCESS_KEY="+s3cfg.SecretAccessKey)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return result{}, fmt.Errorf("verify child: %v: %s", err, out)
		}
		// The child reports its own peak (see chaos.PeakRSS).
		var entries uint64
		var peak float64
		if _, err := fmt.Sscanf(string(out), "%d %f", &entries, &peak); err != nil || entries != uint64(n+1) {
			return result{}, fmt.Errorf("verify child: %q: want the entries verified (%d) and the peak RSS", out, n+1)
		}
		fmt.Printf("verify_rss: %d entries: peak %.1f MiB\n", n, peak)
		peaks = append(peaks, peak)
	}
	// Baseline: the same process doing nothing but start (its floor).
	return result{value: peaks[1], baseline: peaks[0], unit: "MiB"}, nil
}

// verifyChild runs one verification for verifyRSS and exits.
func verifyChild(arg string) {
	var bucket, chain, endpoint string
	for i, part := range splitComma(arg) {
		switch i {
		case 0:
			bucket = part
		case 1:
			chain = part
		case 2:
			endpoint = part
		}
	}
	ctx := context.Background()
	gctune.Set(gctune.Verifier) // as aegis verify does
	cl, err := awsconn.S3(ctx, awsconn.Config{Service: "S3", Endpoint: endpoint, Region: os.Getenv("AEGIS_BENCH_S3_REGION"),
		AccessKeyID: os.Getenv("AEGIS_BENCH_S3_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AEGIS_BENCH_S3_SECRET_ACCESS_KEY")})
	if err == nil {
		var rep replayer.Report
		rep, err = replayer.Verify(ctx, replayer.Config{S3: cl, Bucket: bucket, Chain: chain, VerifierKey: os.Getenv("AEGIS_BENCH_VKEY")})
		if err == nil {
			var peak float64
			peak, err = chaos.PeakRSS("/proc/self/status")
			fmt.Println(strconv.FormatUint(rep.Entries, 10), peak)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// processCPU is the CPU time this process has used, in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// childCPU is the CPU time, in seconds, of this process's child whose
// command is name (the local stack's S3 server), or -1 when there is none
// (an external stack).
func childCPU(name string) float64 {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := strconv.Itoa(os.Getpid())
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime (fields 14 and 15, in ticks).
		comm, rest, ok := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if !ok || !strings.HasSuffix(comm, "("+name) || len(f) < 13 || f[1] != me {
			continue
		}
		user, _ := strconv.ParseFloat(f[11], 64)
		sys, _ := strconv.ParseFloat(f[12], 64)
		return (user + sys) / 100 // USER_HZ
	}
	return -1
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
