package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// putVersion writes a new version over key as a plain S3 client with write
// access can (no If-None-Match), locked so that only the content differs.
func putVersion(t *testing.T, p *pipeline.Pipeline, key string, body []byte, locked bool) {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}
	if locked {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockModeCompliance, aws.Time(time.Now().Add(48*time.Hour))
	}
	if _, err := p.S3.PutObject(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

// download writes the current version of every object under the prefix to
// dir/<key>, as an auditor's copy of the bucket.
func download(t *testing.T, p *pipeline.Pipeline, dir string) {
	t.Helper()
	if err := pipeline.Download(context.Background(), &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}, dir); err != nil {
		t.Fatal(err)
	}
}

// pythonVerify runs the reference verifier (written from docs/FORMAT.md
// alone) on a downloaded copy and returns its exit status and output.
func pythonVerify(t *testing.T, p *pipeline.Pipeline, dir string) (int, string) {
	t.Helper()
	root, err := localstack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "chain.pub")
	if err := os.WriteFile(key, []byte(p.Cfg.VerifierKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", filepath.Join(root, "testdata/vectors/check_vectors.py"), "--dir", dir, "--chain", p.Cfg.Chain, "--verifier-key", key)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("python3: %v", err)
	}
	return cmd.ProcessState.ExitCode(), strings.TrimSpace(string(out))
}

// Issue 6: the tamper matrix. Each change is found by aegis verify with the
// object (and version, line and seq where they apply) named, and, where a
// downloaded copy can show it, by the Python reference verifier too, naming
// a failure (the same object and line where Go names a line). Both agree
// that the untouched chain is sound.
func TestTamperMatrix(t *testing.T) {
	line := func(body []byte, i int) []byte { l, _ := shared.SplitLines(body); return l[i] }
	join := func(lines ...[]byte) []byte { return append(bytes.Join(lines, []byte("\n")), '\n') }
	type victim struct {
		p    *pipeline.Pipeline
		refs []archive.BatchRef
		obj  func(i int) []byte
	}
	cases := []struct {
		name string
		// tamper changes the log; it returns the key Go must name, the line
		// (0: none) and whether a downloaded copy shows the change (else
		// Python must find it sound: a directory has no versions or locks).
		tamper  func(t *testing.T, v victim) (key string, line int, visible bool)
		version bool // Go names a version
		is      error
	}{
		{"untouched", func(t *testing.T, v victim) (string, int, bool) { return "", 0, false }, false, nil},
		{"byte flipped in a new version", func(t *testing.T, v victim) (string, int, bool) {
			b := bytes.Clone(v.obj(2))
			i := bytes.Index(b, []byte(`"user_id":"`)) + 11
			b[i] ^= 1
			putVersion(t, v.p, v.refs[2].Key, b, true)
			return v.refs[2].Key, 1, true
		}, true, shared.ErrBadEntry},
		{"line deleted", func(t *testing.T, v victim) (string, int, bool) {
			b := v.obj(2)
			putVersion(t, v.p, v.refs[2].Key, join(line(b, 0), line(b, 2)), true)
			return v.refs[2].Key, 2, true
		}, true, shared.ErrChainBroken},
		{"line inserted", func(t *testing.T, v victim) (string, int, bool) {
			b := v.obj(2)
			putVersion(t, v.p, v.refs[2].Key, join(line(b, 0), line(b, 1), line(b, 1), line(b, 2)), true)
			return v.refs[2].Key, 3, true
		}, true, shared.ErrChainBroken},
		{"lines swapped", func(t *testing.T, v victim) (string, int, bool) {
			b := v.obj(2)
			putVersion(t, v.p, v.refs[2].Key, join(line(b, 0), line(b, 2), line(b, 1)), true)
			return v.refs[2].Key, 2, true
		}, true, shared.ErrChainBroken},
		{"object truncated", func(t *testing.T, v victim) (string, int, bool) {
			b := v.obj(2)
			putVersion(t, v.p, v.refs[2].Key, b[:len(b)-40], true)
			return v.refs[2].Key, 10, true
		}, true, shared.ErrBadEntry},
		{"CR on a line, an empty line further down", func(t *testing.T, v victim) (string, int, bool) {
			// Section 1 is checked line by line before any line alone, as
			// the Python reference does: line 2 (the CR), not line 4.
			b := v.obj(2)
			cr := append(bytes.Clone(line(b, 1)), '\r')
			putVersion(t, v.p, v.refs[2].Key, join(line(b, 0), cr, line(b, 2), nil, line(b, 3)), true)
			return v.refs[2].Key, 2, true
		}, true, shared.ErrBadEntry},
		{"new version with the original bytes on top", func(t *testing.T, v victim) (string, int, bool) {
			b := bytes.Clone(v.obj(1))
			putVersion(t, v.p, v.refs[1].Key, bytes.Replace(b, []byte("ALLOW"), []byte("BLOCK"), 1), true)
			putVersion(t, v.p, v.refs[1].Key, b, true)
			return v.refs[1].Key, 0, false
		}, true, replayer.ErrRewritten},
		{"object deleted (delete marker)", func(t *testing.T, v victim) (string, int, bool) {
			if _, err := v.p.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(v.p.Cfg.Bucket), Key: aws.String(v.refs[2].Key)}); err != nil {
				t.Fatal(err)
			}
			return v.refs[2].Key, 0, true
		}, true, replayer.ErrRewritten},
		{"object moved to another date", func(t *testing.T, v victim) (string, int, bool) {
			info, err := shared.ParseBatchKey("audit", v.refs[2].Key)
			if err != nil {
				t.Fatal(err)
			}
			d := info.Date.AddDate(0, 0, 1)
			moved := fmt.Sprintf("audit/year=%04d/month=%02d/day=%02d/env=%s/%020d.jsonl", d.Year(), int(d.Month()), d.Day(), info.Chain, info.FirstSeq)
			putVersion(t, v.p, moved, v.obj(2), true)
			if _, err := v.p.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(v.p.Cfg.Bucket), Key: aws.String(v.refs[2].Key)}); err != nil {
				t.Fatal(err)
			}
			return v.refs[2].Key, 0, true
		}, true, replayer.ErrRewritten},
		{"entry spliced in from another chain", func(t *testing.T, v victim) (string, int, bool) {
			other, otherRefs := sealedChain(t)
			st := &archive.Store{S3: other.S3, Bucket: other.Cfg.Bucket}
			o, err := st.Get(context.Background(), otherRefs[2].Key, "")
			if err != nil {
				t.Fatal(err)
			}
			b := v.obj(2)
			putVersion(t, v.p, v.refs[2].Key, join(line(b, 0), line(o.Body, 1), line(b, 2)), true)
			return v.refs[2].Key, 2, true
		}, true, shared.ErrChainBroken},
		{"checkpoint signed by another key", func(t *testing.T, v victim) (string, int, bool) {
			name := strings.SplitN(v.p.Cfg.VerifierKey, "+", 2)[0]
			skey, _, err := note.GenerateKey(rand.Reader, name)
			if err != nil {
				t.Fatal(err)
			}
			head := v.p.Sealer.Head()
			key := putCheckpoint(t, v.p, skey, shared.Checkpoint{Chain: v.p.Cfg.Chain, Seq: head.Seq + 5, Hash: head.Hash, Offset: 99, Object: "audit/x.jsonl", Time: time.Now()})
			return key, 0, true
		}, false, shared.ErrBadCheckpoint},
		{"object without Object Lock", func(t *testing.T, v victim) (string, int, bool) {
			last := v.obj(len(v.refs) - 1)
			ls, _ := shared.SplitLines(last)
			e, _ := shared.ParseLine(ls[len(ls)-1])
			head := shared.Head{Chain: e.Chain, Seq: e.Seq, Hash: e.Hash, Offset: e.Source.Offset}
			next, err := shared.SealRecord(head, shared.Source{Topic: e.Source.Topic, Offset: head.Offset + 1, Timestamp: e.Source.Timestamp}, []byte("x"), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			l, _ := next.Line()
			key := shared.BatchKey("audit", next)
			putVersion(t, v.p, key, append(l, '\n'), false)
			return key, 0, false
		}, true, replayer.ErrVerifyFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, refs := sealedChain(t)
			st := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
			v := victim{p: p, refs: refs, obj: func(i int) []byte {
				o, err := st.Get(context.Background(), refs[i].Key, "")
				if err != nil {
					t.Fatal(err)
				}
				return o.Body
			}}
			key, line, visible := tc.tamper(t, v)
			_, err := p.Verify(context.Background())
			var seq string // " seq N" when aegis verify names one
			if key == "" {
				if err != nil {
					t.Fatalf("untouched chain: %v", err)
				}
			} else {
				var f *replayer.Failure
				if !errors.As(err, &f) || f.Key != key || f.Line != line || !errors.Is(err, tc.is) || tc.version && f.Version == "" {
					t.Fatalf("verify: %v\nwant object %s line %d version named %v (%v)", err, key, line, tc.version, tc.is)
				}
				t.Logf("aegis verify: %v", err)
				if f.HasSeq {
					seq = fmt.Sprintf(" seq %d", f.Seq)
				}
			}
			dir := t.TempDir()
			download(t, p, dir)
			code, out := pythonVerify(t, p, dir)
			switch {
			case key == "":
				if code != 0 {
					t.Fatalf("python on the untouched chain: exit %d: %s", code, out)
				}
			case !visible:
				if code == 1 {
					t.Fatalf("python on a copy that shows no change: exit %d: %s", code, out)
				}
			case code != 1 || !strings.HasPrefix(out, "FAIL object "):
				t.Fatalf("python: exit %d: %s; want a failure", code, out)
			case line > 0 && !strings.HasPrefix(out, fmt.Sprintf("FAIL object %s line %d%s:", key, line, seq)):
				t.Fatalf("python: %s; want object %s line %d%s, as aegis verify names it", out, key, line, seq)
			default:
				t.Logf("python: %s", out)
			}
		})
	}
}
