// Package archive reads and writes the sealed log in S3: batch objects of
// JSONL entries and signed checkpoints, laid out as shared.BatchKey and
// shared.CheckpointKey say.
//
// Invariants: every object is written once, with If-None-Match: * (an
// existing key is never overwritten), Object Lock COMPLIANCE with a
// retain-until date, and a SHA-256 checksum the server checks on receipt.
// Reads return exactly the stored bytes: response checksums are not
// validated by the SDK, so a verifier can name the broken line itself.
package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/shared"
)

// S3API is the part of the S3 client the archive uses.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	GetObjectLockConfiguration(ctx context.Context, in *s3.GetObjectLockConfigurationInput, opts ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
	GetObjectRetention(ctx context.Context, in *s3.GetObjectRetentionInput, opts ...func(*s3.Options)) (*s3.GetObjectRetentionOutput, error)
	CreateBucket(ctx context.Context, in *s3.CreateBucketInput, opts ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
}

// ErrNotLocked means the bucket exists but has no Object Lock.
var ErrNotLocked = errors.New("bucket has no Object Lock")

// ErrNoBucket means the bucket does not exist.
var ErrNoBucket = errors.New("bucket does not exist")

// ErrAccessDenied means the server refused the credentials for the bucket.
var ErrAccessDenied = errors.New("access to the bucket denied")

// CheckBucket makes sure the bucket exists with Object Lock enabled. With
// create, a missing bucket is created with Object Lock (for development;
// production buckets are provisioned with their retention policy). It
// returns ErrNoBucket, ErrNotLocked or ErrAccessDenied for what retrying
// cannot mend; any other error (the server unreachable, a 5xx) is
// transient and the caller retries.
func (s *Store) CheckBucket(ctx context.Context, create bool) error {
	out, err := s.S3.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(s.Bucket)})
	if err != nil && create && apiCode(err) == "NoSuchBucket" {
		_, cerr := s.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket), ObjectLockEnabledForBucket: aws.Bool(true)})
		if cerr != nil {
			return fmt.Errorf("create bucket %s with Object Lock: %w", s.Bucket, cerr)
		}
		out, err = s.S3.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(s.Bucket)})
	}
	switch code := apiCode(err); {
	case err == nil:
	case code == "NoSuchBucket":
		return fmt.Errorf("%w: %s (create it with Object Lock enabled; for development, --create-bucket creates it)", ErrNoBucket, s.Bucket)
	case code == "ObjectLockConfigurationNotFoundError":
		return fmt.Errorf("%w: bucket %s exists without Object Lock, which cannot be turned on here: use a bucket created with Object Lock enabled", ErrNotLocked, s.Bucket)
	case httpStatus(err) == http.StatusForbidden:
		return fmt.Errorf("%w: %s: %w", ErrAccessDenied, s.Bucket, err)
	default:
		return fmt.Errorf("read the Object Lock configuration of bucket %s: %w", s.Bucket, err)
	}
	if out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return fmt.Errorf("%w: bucket %s: Object Lock is not enabled", ErrNotLocked, s.Bucket)
	}
	return nil
}

func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// ErrExists is returned by Put when the key already holds an object.
var ErrExists = errors.New("object already exists")

// Store is the sealed log of one bucket and prefix.
type Store struct {
	S3     S3API
	Bucket string
	// Prefix defaults to "audit".
	Prefix string
	// MaxObjectBytes bounds what Get reads of one object. Default
	// DefaultMaxObjectBytes.
	MaxObjectBytes int64
	// Call, when set, runs each S3 request of the calls that make many
	// (a page of FirstVersion's, ListVersions' or CheckpointAfter's
	// listing, a read of RetiredVersion's) on its own, under the caller's
	// policy: the sealer's gives each request one call's time and retries
	// it. Anyone with write access to the bucket can put as many delete
	// markers at a key as they like (free on S3), and a listing of them
	// all given one call's time was retried for ever. Unset, each request
	// runs under the context given.
	Call func(ctx context.Context, what string, fn func(context.Context) error) error

	// retiring caches when each retired key's last checkpoint was stored
	// (RetiredVersion), and whether it is dated late (RetirementDatedLate),
	// by checkpoint key.
	retiring struct {
		sync.Mutex
		at   map[string]time.Time
		late map[string]bool
	}
}

// call runs fn, one S3 request, under s.Call.
func (s *Store) call(ctx context.Context, what string, fn func(context.Context) error) error {
	if s.Call == nil {
		return fn(ctx)
	}
	return s.Call(ctx, what, fn)
}

// DefaultMaxObjectBytes is the largest object Get reads (64 MiB): well
// above any batch the sealer writes (it closes batches at most at
// MaxBatchBytes), far below what would exhaust a verifier's or a sealer's
// memory.
const DefaultMaxObjectBytes = 64 << 20

// MaxBatchBytes is the largest batch size a sealer may be configured
// with: a batch holds at most this much and one more line, so every object
// it writes reads back within DefaultMaxObjectBytes.
const MaxBatchBytes = DefaultMaxObjectBytes / 2

// ErrTooLarge is returned by Get for an object over MaxObjectBytes: not
// one the sealer wrote. Someone with write access to the bucket (not the
// signing key) can put one at any new key; it is refused, never read into
// memory, so it cannot take down the sealer or a verification.
var ErrTooLarge = errors.New("object larger than any batch the sealer writes")

func (s *Store) maxObject() int64 {
	if s.MaxObjectBytes <= 0 {
		return DefaultMaxObjectBytes
	}
	return s.MaxObjectBytes
}

func (s *Store) prefix() string {
	if s.Prefix == "" {
		return "audit"
	}
	return s.Prefix
}

// Object is one stored object.
type Object struct {
	Key       string
	VersionID string
	Body      []byte
	// LockMode and RetainUntil are the object's Object Lock state;
	// LegalHold is set when a legal hold is on (Head).
	LockMode    types.ObjectLockMode
	RetainUntil time.Time
	LegalHold   bool
	// ChecksumSHA256 is the checksum stored with the object (base64, Head).
	ChecksumSHA256 string
	// Stored is when S3 stored it (LastModified, Head).
	Stored time.Time
}

// Put writes body at key once, locked in COMPLIANCE mode until retainUntil,
// with a SHA-256 checksum. It returns ErrExists when key is taken.
func (s *Store) Put(ctx context.Context, key string, body []byte, retainUntil time.Time) (versionID string, err error) {
	return s.put(ctx, key, body, retainUntil, aws.String("*"))
}

// PutOver writes body at key as Put does, as a new version when key is
// taken: for the sealer's notes, never for an object or checkpoint of a
// chain, which are written once.
func (s *Store) PutOver(ctx context.Context, key string, body []byte, retainUntil time.Time) (versionID string, err error) {
	return s.put(ctx, key, body, retainUntil, nil)
}

func (s *Store) put(ctx context.Context, key string, body []byte, retainUntil time.Time, ifNoneMatch *string) (versionID string, err error) {
	sum := sha256.Sum256(body)
	out, err := s.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                    aws.String(s.Bucket),
		Key:                       aws.String(key),
		Body:                      bytes.NewReader(body),
		ContentLength:             aws.Int64(int64(len(body))),
		IfNoneMatch:               ifNoneMatch,
		ObjectLockMode:            types.ObjectLockModeCompliance,
		ObjectLockRetainUntilDate: aws.Time(retainUntil.UTC()),
		ChecksumAlgorithm:         types.ChecksumAlgorithmSha256,
		ChecksumSHA256:            aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		ContentType:               aws.String(contentType(key)),
	}, withPayloadHash(hex.EncodeToString(sum[:])))
	if err != nil {
		if httpStatus(err) == http.StatusPreconditionFailed {
			return "", fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, ErrExists)
		}
		return "", fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, err)
	}
	return aws.ToString(out.VersionId), nil
}

func contentType(key string) string {
	if strings.HasSuffix(key, ".jsonl") {
		return "application/x-ndjson"
	}
	return "text/plain; charset=utf-8"
}

// ErrNotFound is returned by Get and Head for a missing key.
var ErrNotFound = errors.New("object not found")

// ErrUnreadable is returned by Get and Head when S3 answers that the
// version asked cannot be read (a 4xx other than 404, 408 and 429: for
// example a version written in an archive storage class, or encrypted
// under a key the reader may not use). Whoever can write the bucket can
// write such a version over a sealed key: readers then read the sealed
// version under it, as for a version written over one.
var ErrUnreadable = errors.New("S3 refuses to give this version")

// Unreadable stands for a current version that cannot be read, in
// SealedVersion (which then tries every version) and in messages.
var Unreadable = &Object{VersionID: "(one S3 refuses to give)"}

// unreadable reports whether a GET's or HEAD's error is S3's answer that
// the version cannot be read, not a missing key, a failure to ask, or a
// refusal of the caller's credentials (an expired session token is
// refreshed, and the call asked again).
func unreadable(err error) bool {
	code := httpStatus(err)
	return code >= 400 && code < 500 && code != http.StatusNotFound && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests &&
		!awsconn.BadCredentials(err)
}

// Get reads key's bytes (its current version when versionID is empty). Lock
// state and checksum are not filled in: not every server returns them on
// GET; use Head.
func (s *Store) Get(ctx context.Context, key, versionID string) (*Object, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := s.S3.GetObject(ctx, in)
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			return nil, fmt.Errorf("get s3://%s/%s: %w", s.Bucket, key, ErrNotFound)
		}
		if unreadable(err) {
			return nil, fmt.Errorf("get s3://%s/%s: %w: %w", s.Bucket, key, ErrUnreadable, err)
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", s.Bucket, key, err)
	}
	defer out.Body.Close()
	body, err := s.readObject(key, out.Body, out.ContentLength)
	if err != nil {
		return nil, err
	}
	return &Object{Key: key, VersionID: aws.ToString(out.VersionId), Body: body}, nil
}

// Head reads key's metadata, including its stored checksum.
func (s *Store) Head(ctx context.Context, key, versionID string) (*Object, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := s.S3.HeadObject(ctx, in)
	if err != nil && httpStatus(err) == http.StatusNotFound {
		return nil, fmt.Errorf("head s3://%s/%s: %w: %w", s.Bucket, key, ErrNotFound, err)
	}
	if err != nil && unreadable(err) {
		return nil, fmt.Errorf("head s3://%s/%s: %w: %w", s.Bucket, key, ErrUnreadable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("head s3://%s/%s: %w", s.Bucket, key, err)
	}
	return &Object{
		Key: key, VersionID: aws.ToString(out.VersionId),
		LockMode: types.ObjectLockMode(out.ObjectLockMode), RetainUntil: aws.ToTime(out.ObjectLockRetainUntilDate),
		LegalHold:      out.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn,
		ChecksumSHA256: aws.ToString(out.ChecksumSHA256),
		Stored:         aws.ToTime(out.LastModified),
	}, nil
}

// List returns every key under prefix, in lexical order.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// CheckpointAfter returns the first checkpoint key of chain after the
// checkpoint key of seq, and its seq (ok false: none). Keys in the
// checkpoints folder that are not checkpoint keys are passed over. The
// listing is of versions: a key under a delete marker is one too (its
// sealed version is still there, and still signs its seq).
func (s *Store) CheckpointAfter(ctx context.Context, chain string, seq uint64) (key string, at uint64, ok bool, err error) {
	return s.CheckpointFrom(ctx, chain, seq+1)
}

// CheckpointFrom is CheckpointAfter for the first checkpoint key of a seq
// at least from: the genesis's too, when from is 0.
func (s *Store) CheckpointFrom(ctx context.Context, chain string, from uint64) (key string, at uint64, ok bool, err error) {
	prefix := shared.CheckpointPrefix(s.prefix(), chain)
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)}
	if from > 0 {
		in.KeyMarker = aws.String(shared.CheckpointKey(s.prefix(), chain, from-1))
	}
	p := s3.NewListObjectVersionsPaginator(s.S3, in)
	for p.HasMorePages() {
		var page *s3.ListObjectVersionsOutput
		if err := s.call(ctx, "list the versions under "+prefix, func(ctx context.Context) error {
			var err error
			page, err = p.NextPage(ctx)
			return err
		}); err != nil {
			return "", 0, false, fmt.Errorf("list versions of s3://%s/%s: %w", s.Bucket, prefix, err)
		}
		// The page's versions are in key order; the first checkpoint key
		// of them is the answer. A key that only delete markers hold has
		// nothing to read (a marker put where nothing was: free on S3,
		// and as many as a bucket writer likes) and is passed over.
		best, bestAt, found := "", uint64(0), false
		consider := func(k string) {
			if at, ok := shared.ParseCheckpointKey(s.prefix(), chain, k); ok && at >= from && (!found || k < best) {
				best, bestAt, found = k, at, true
			}
		}
		for _, v := range page.Versions {
			consider(aws.ToString(v.Key))
		}
		if found {
			return best, bestAt, true, nil
		}
	}
	return "", 0, false, nil
}

// GetLocked reads key's current version with its Object Lock state and
// stored checksum. One GET asks for all three (with the checksum mode on,
// as a HEAD would); AWS S3 answers them there. A server that leaves any of
// them out of a GET's answer (versitygw 1.8 leaves out the lock state) is
// asked with a HEAD of the version read, and so is one whose GET fails.
// The SDK's own check of the body against the stored checksum is left
// out: the caller checks it, and names the broken line (should a later SDK
// check it anyway, a body that differs fails the GET, and the plain GET
// then reads the bytes).
func (s *Store) GetLocked(ctx context.Context, key string) (*Object, error) {
	out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled},
		s3.WithAPIOptions(withoutResponseChecksum))
	if err == nil {
		defer out.Body.Close()
		body, rerr := s.readObject(key, out.Body, out.ContentLength)
		version := aws.ToString(out.VersionId)
		switch {
		case errors.Is(rerr, ErrTooLarge):
			return nil, rerr
		case rerr != nil:
		case out.ObjectLockMode != "" && out.ObjectLockRetainUntilDate != nil && aws.ToString(out.ChecksumSHA256) != "":
			return &Object{Key: key, VersionID: version, Body: body,
				LockMode: types.ObjectLockMode(out.ObjectLockMode), RetainUntil: aws.ToTime(out.ObjectLockRetainUntilDate),
				ChecksumSHA256: aws.ToString(out.ChecksumSHA256)}, nil
		case version != "" && aws.ToString(out.ChecksumSHA256) != "":
			// The GET gave all but the lock (versitygw leaves it out of
			// a GET): the retention alone, a lighter request than a HEAD
			// (190 against 357 µs of versitygw's CPU: docs/MEASUREMENTS.md).
			obj := &Object{Key: key, VersionID: version, Body: body, ChecksumSHA256: aws.ToString(out.ChecksumSHA256),
				Stored: aws.ToTime(out.LastModified)}
			if err := s.retention(ctx, key, obj); err != nil {
				return nil, err
			}
			return obj, nil
		default:
			head, err := s.Head(ctx, key, version)
			if err != nil {
				return nil, err
			}
			head.Body = body
			return head, nil
		}
	}
	obj, err := s.Get(ctx, key, "")
	if err != nil {
		return nil, err
	}
	head, err := s.Head(ctx, key, obj.VersionID)
	if err != nil {
		return nil, err
	}
	head.Body = obj.Body
	return head, nil
}

// SealedVersion finds the sealed version of key when its current one
// (cur; nil when a delete marker hides the key) is not: the first of its
// older versions, the oldest first (SealedVersions), that get reads and
// sealed accepts; ok is false when none does. A version get cannot read
// is passed over. Someone with write access to the bucket can delete a
// sealed key or write over it, and the sealed version stays under Object
// Lock; what sealed checks (a trusted checkpoint's signature over it) no
// other version can pass.
func (s *Store) SealedVersion(ctx context.Context, key string, cur *Object, get func(ctx context.Context, versionID string) (*Object, error),
	sealed func(*Object) error) (obj *Object, ok bool, err error) {
	vs, err := s.ListVersions(ctx, key)
	if err != nil {
		return nil, false, err
	}
	obj, ok = FirstSealed(ctx, vs, cur, get, sealed)
	return obj, ok, ctx.Err()
}

// FirstSealed is the first of versions (of one key, the oldest first) but
// cur that get reads and sealed accepts (ok false: none); a version get
// cannot read is passed over, and the search stops when ctx is done.
func FirstSealed(ctx context.Context, versions []ListedVersion, cur *Object, get func(ctx context.Context, versionID string) (*Object, error),
	sealed func(*Object) error) (obj *Object, ok bool) {
	for _, v := range versions {
		if cur != nil && v.ID == cur.VersionID {
			continue
		}
		obj, err := get(ctx, v.ID)
		if ctx.Err() != nil {
			return nil, false
		}
		if err == nil && sealed(obj) == nil {
			return obj, true
		}
	}
	return nil, false
}

// CurrentName names a key's current version in messages: cur's version,
// or a delete marker when cur is nil.
func CurrentName(cur *Object) string {
	if cur == nil {
		return "a delete marker"
	}
	return "version " + cur.VersionID
}

// GetLockedVersion reads one version of key with its Object Lock state
// and stored checksum (a GET and a HEAD of that version). A server whose
// HEAD leaves out the lock state of a version that is not the current
// one (versitygw 1.8, which still keeps it and refuses its deletion) is
// asked with GetObjectRetention.
func (s *Store) GetLockedVersion(ctx context.Context, key, versionID string) (*Object, error) {
	obj, err := s.Get(ctx, key, versionID)
	if err != nil {
		return nil, err
	}
	head, err := s.LockedHead(ctx, key, versionID)
	if err != nil {
		return nil, err
	}
	head.Body = obj.Body
	return head, nil
}

// LockedHead is Head of one version with its Object Lock state, asked
// with GetObjectRetention when the HEAD leaves it out (GetLockedVersion).
func (s *Store) LockedHead(ctx context.Context, key, versionID string) (*Object, error) {
	head, err := s.Head(ctx, key, versionID)
	if err != nil {
		return nil, err
	}
	if head.LockMode == "" {
		if err := s.retention(ctx, key, head); err != nil {
			return nil, err
		}
	}
	return head, nil
}

// retention sets obj's lock (mode and retain-until date) from
// GetObjectRetention of its version; none when S3 answers 404 (no lock).
func (s *Store) retention(ctx context.Context, key string, obj *Object) error {
	out, err := s.S3.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(s.Bucket), Key: aws.String(key), VersionId: aws.String(obj.VersionID)})
	// No retention on the version: AWS answers 404, versitygw 400
	// NoSuchObjectLockConfiguration (before, that was reported as an S3
	// error, not as an object without a lock: found by an outside trial
	// that restored a bucket into one whose default retention versitygw
	// did not apply).
	if err != nil && httpStatus(err) != http.StatusNotFound && apiCode(err) != "NoSuchObjectLockConfiguration" {
		return fmt.Errorf("get the retention of s3://%s/%s version %s: %w", s.Bucket, key, obj.VersionID, err)
	}
	if err == nil && out.Retention != nil {
		obj.LockMode = types.ObjectLockMode(out.Retention.Mode)
		obj.RetainUntil = aws.ToTime(out.Retention.RetainUntilDate)
	}
	return nil
}

// readObject reads a GET's body, refusing an object over the store's
// limit unread when its announced length says so, or as soon as the bytes
// pass the limit when the server announced none (or less).
func (s *Store) readObject(key string, body io.Reader, length *int64) ([]byte, error) {
	limit := s.maxObject()
	if n := aws.ToInt64(length); n > limit {
		return nil, fmt.Errorf("get s3://%s/%s: %w: %d bytes, the limit is %d", s.Bucket, key, ErrTooLarge, n, limit)
	}
	b, err := readBody(io.LimitReader(body, limit+1), length)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", s.Bucket, key, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("get s3://%s/%s: %w: more than %d bytes", s.Bucket, key, ErrTooLarge, limit)
	}
	return b, nil
}

// maxPrealloc bounds the buffer a body's announced length sizes at once; a
// larger (or absurd) length is read growing as it comes.
const maxPrealloc = 64 << 20

// readBody reads a response body whole, into one buffer of the announced
// length when it is reasonable (io.ReadAll grows by doubling: a dozen
// copies of a batch object).
func readBody(r io.Reader, length *int64) ([]byte, error) {
	if length == nil || *length < 0 || *length > maxPrealloc {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, *length+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// withPayloadHash hands the SDK the body's SHA-256, computed once for the
// checksum header, as the SigV4 payload hash: over plain HTTP (a local
// server) the SDK would otherwise read and hash the whole body a second
// time. The signature covers the same value either way.
func withPayloadHash(hexSum string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			// First in the finalize step, so it does not depend on the id of
			// the SDK's own payload-hash middleware, which reads it later.
			return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("AegisPayloadHash",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					return next.HandleFinalize(v4.SetPayloadHash(ctx, hexSum), in)
				}), middleware.Before)
		})
	}
}

// withoutResponseChecksum removes the SDK's check of a response body
// against its stored checksum (the middleware may be absent: nothing to
// remove then).
func withoutResponseChecksum(stack *middleware.Stack) error {
	_, _ = stack.Deserialize.Remove("AWSChecksum:ValidateOutputPayloadChecksum")
	return nil
}

// BatchRef names one batch object of a chain.
type BatchRef struct {
	Key      string
	FirstSeq uint64
}

// Rewritten is a key of the chain with more than one version, or whose
// newest version is a delete marker: written over or deleted after it was
// sealed (the sealer writes every key once).
type Rewritten struct {
	Key string
	// Versions are the version ids, the newest first, at most
	// MaxVersionsKept of the Count listed; DeleteMarker is set when the
	// newest is a delete marker.
	Versions     []string
	Count        int
	DeleteMarker bool
}

// Listing is a chain's objects, as one listing of the prefix found them.
type Listing struct {
	// Batches are the genesis and batch objects, ordered by first seq.
	Batches []BatchRef
	// Checkpoints are the checkpoint keys, oldest first.
	Checkpoints []string
	// Strays are keys in the chain's folders (an env=<chain> segment) that
	// are none of its key forms: something put there by someone else.
	Strays []string
	// Rewritten are the chain's keys with more than one version or a
	// delete marker on top. Keys deleted that way are not in Batches or
	// Checkpoints.
	Rewritten []Rewritten
}

// Log lists the chain's objects, with every version of each, in one
// listing (docs/FORMAT.md section 1). In that listing checkpoints/ sorts
// before genesis/ and year=..., and a batch is written before its
// checkpoint, so every checkpoint listed has its batch listed too, even
// while a sealer is writing. Keys of other chains are ignored. It holds
// every key of the chain: Survey, StreamBatches and StreamCheckpoints read
// a chain of any length.
func (s *Store) Log(ctx context.Context, chain string) (Listing, error) {
	var l Listing
	err := s.walkChain(ctx, chain, func(k KeyVersions, kind shared.KeyKind) error {
		if kind != shared.KeyOther && k.Rewritten() {
			l.Rewritten = append(l.Rewritten, k.rewritten())
		}
		if k.Deleted {
			return nil
		}
		switch kind {
		case shared.KeyGenesis:
			l.Batches = append(l.Batches, BatchRef{Key: k.Key, FirstSeq: 0})
		case shared.KeyBatch:
			info, _ := shared.ParseBatchKey(s.prefix(), k.Key)
			l.Batches = append(l.Batches, BatchRef{Key: k.Key, FirstSeq: info.FirstSeq})
		case shared.KeyCheckpoint:
			l.Checkpoints = append(l.Checkpoints, k.Key)
		case shared.KeyStray:
			l.Strays = append(l.Strays, k.Key)
		}
		return nil
	})
	sort.SliceStable(l.Batches, func(i, j int) bool { return l.Batches[i].FirstSeq < l.Batches[j].FirstSeq })
	sort.Strings(l.Checkpoints)
	return l, err
}

// KeyVersions is one key of a listing of versions with its versions.
type KeyVersions struct {
	Key string
	// Versions are the version ids, the newest first, at most
	// MaxVersionsKept of the Count listed; Deleted is set when the newest
	// is a delete marker.
	Versions []string
	Count    int
	Deleted  bool
	// ObjectVersions are the ids of the versions that are not delete
	// markers, at most MaxVersionsKept of the Objects listed, in listing
	// order.
	ObjectVersions []string
	Objects        int
}

// MaxVersionsKept bounds the version ids kept of one key: a key written
// over a million times is reported by its count and its newest versions,
// in the memory and time of a few.
const MaxVersionsKept = 8

// Rewritten reports a key written more than once or deleted: the sealer
// writes every key once.
func (k KeyVersions) Rewritten() bool { return k.Count > 1 || k.Deleted }

func (k KeyVersions) rewritten() Rewritten {
	return Rewritten{Key: k.Key, Versions: k.Versions, Count: k.Count, DeleteMarker: k.Deleted}
}

// walkChain lists every version under the prefix, one page at a time, and
// hands each key with its versions and what it is to chain to fn, in
// lexical order. It holds one page and a page's worth of one key's
// version ids, never the listing nor every version of a key.
func (s *Store) walkChain(ctx context.Context, chain string, fn func(KeyVersions, shared.KeyKind) error) error {
	return s.walkFolder(ctx, chain, s.prefix()+"/", fn)
}

// walkFolder is walkChain for the keys under folder alone.
func (s *Store) walkFolder(ctx context.Context, chain, folder string, fn func(KeyVersions, shared.KeyKind) error) error {
	var cur *KeyVersions
	// seen and seenBefore are the current key's version ids in this page
	// and the one before: a version listed twice (versitygw repeats the
	// one at a page boundary) is one version, and a repeat comes no
	// further back, so a key with many versions is counted in time and
	// memory that grow with a page, not with its versions.
	seen, seenBefore := map[string]bool{}, map[string]bool{}
	flush := func() error {
		if cur == nil {
			return nil
		}
		k := *cur
		cur = nil
		clear(seen)
		clear(seenBefore)
		return fn(k, shared.ClassifyKey(s.prefix(), chain, k.Key))
	}
	p := s3.NewListObjectVersionsPaginator(s.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(s.Bucket), Prefix: aws.String(folder),
		MaxKeys: aws.Int32(ListPageSize)})
	type item struct {
		key, version   string
		latest, marker bool
	}
	var items []item
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions of s3://%s/%s: %w", s.Bucket, folder, err)
		}
		seen, seenBefore = seenBefore, seen
		clear(seen)
		// A page lists versions and delete markers apart; merge them by key
		// (keys ascend, and a key's versions are newest first).
		items = items[:0]
		for _, v := range page.Versions {
			items = append(items, item{aws.ToString(v.Key), aws.ToString(v.VersionId), aws.ToBool(v.IsLatest), false})
		}
		for _, d := range page.DeleteMarkers {
			items = append(items, item{aws.ToString(d.Key), aws.ToString(d.VersionId), aws.ToBool(d.IsLatest), true})
		}
		sort.SliceStable(items, func(i, j int) bool { return items[i].key < items[j].key })
		for _, it := range items {
			if cur == nil || cur.Key != it.key {
				if err := flush(); err != nil {
					return err
				}
				cur = &KeyVersions{Key: it.key}
			}
			if seen[it.version] || seenBefore[it.version] {
				continue
			}
			seen[it.version] = true
			cur.Count++
			if !it.marker {
				if cur.Objects++; len(cur.ObjectVersions) < MaxVersionsKept {
					cur.ObjectVersions = append(cur.ObjectVersions, it.version)
				}
			}
			switch {
			case it.latest:
				// The newest first, whether a version or a delete marker
				// (a page lists the markers after the versions).
				cur.Versions = slices.Insert(cur.Versions, 0, it.version)
				if len(cur.Versions) > MaxVersionsKept {
					cur.Versions = cur.Versions[:MaxVersionsKept]
				}
				cur.Deleted = it.marker
			case len(cur.Versions) < MaxVersionsKept:
				cur.Versions = append(cur.Versions, it.version)
			}
		}
	}
	return flush()
}

// Batches lists the chain's batch objects (genesis included), ordered by
// first seq.
func (s *Store) Batches(ctx context.Context, chain string) ([]BatchRef, error) {
	l, err := s.Log(ctx, chain)
	return l.Batches, err
}

// Checkpoints lists the chain's checkpoint keys, oldest first.
func (s *Store) Checkpoints(ctx context.Context, chain string) ([]string, error) {
	keys, err := s.List(ctx, shared.CheckpointPrefix(s.prefix(), chain))
	if err != nil {
		return nil, err
	}
	out := keys[:0]
	for _, k := range keys {
		if _, ok := shared.ParseCheckpointKey(s.prefix(), chain, k); ok {
			out = append(out, k)
		}
	}
	return out, nil
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// MaxOlderVersions bounds the version ids SealedVersions returns: a key
// written over by someone else more often than that is read from its
// newest versions only.
const MaxOlderVersions = 10_000

// SealedVersions lists the version ids of key (delete markers left out),
// the oldest first: the sealer writes each key once, before anyone could
// write over it, so its version is the oldest (docs/SECURITY.md). The
// listing is of that key alone, one page at a time; at most
// MaxOlderVersions ids are kept, the oldest of those listed.
func (s *Store) SealedVersions(ctx context.Context, key string) ([]string, error) {
	vs, err := s.ListVersions(ctx, key)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	return ids, nil
}

// ListedVersion is a version of a key as S3 lists it.
type ListedVersion struct {
	ID string
	// Stored is when S3 stored it (LastModified); for the object of a
	// multipart upload, when the upload was begun (FirstVersion).
	Stored time.Time
	// Multipart is set for the object of a multipart upload (ETag
	// "<hex>-<parts>"): never one the sealer wrote.
	Multipart bool
	// Size is its length in bytes.
	Size int64
}

// ListVersions lists the versions of key as SealedVersions does, with
// what the listing says of each, each page a request of its own (Call).
func (s *Store) ListVersions(ctx context.Context, key string) ([]ListedVersion, error) {
	l := s.NewVersionListing(key)
	for !l.Done() {
		if err := s.call(ctx, "list the versions of "+key, l.Next); err != nil {
			return nil, err
		}
	}
	return l.Versions(), nil
}

// VersionListing lists the versions of one key (delete markers left out)
// a page at a time, each page an S3 call of its own: a caller gives each
// its own time, and asks a page that failed again with Next. Anyone with
// write access to the bucket can put as many versions and delete markers
// at a key as they like (markers are free on S3), and the listing pages
// through every one, the newest first: in one call's time, a listing
// longer than that was retried for ever.
type VersionListing struct {
	key         string
	singlePut   bool // keep only the versions of one PUT (NewSealedVersionListing)
	p           *s3.ListObjectVersionsPaginator
	bucket      string
	newestFirst []ListedVersion
	seen        map[string]bool
	first       ListedVersion
	done        bool
	cut         bool
}

// NewVersionListing starts a listing of the versions of key.
func (s *Store) NewVersionListing(key string) *VersionListing {
	return &VersionListing{key: key, bucket: s.Bucket, seen: map[string]bool{},
		p: s3.NewListObjectVersionsPaginator(s.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(s.Bucket), Prefix: aws.String(key)})}
}

// NewSealedVersionListing is NewVersionListing of the versions a sealer
// may have written, those of one PUT: the object of a multipart upload is
// never one (the sealer writes with one PUT each). S3 lists such an
// object by when its upload was begun, so uploads begun at a key before
// the sealer wrote it, completed after, and more of them than a listing
// keeps (MaxOlderVersions), pushed the sealer's version out of it; with a
// delete marker over it, a start took the checkpoint before as the head
// (TestMultipartUploadsBegunAheadDoNotPushTheSealedCheckpointOut).
func (s *Store) NewSealedVersionListing(key string) *VersionListing {
	l := s.NewVersionListing(key)
	l.singlePut = true
	return l
}

// Done reports whether the listing has read its last page.
func (l *VersionListing) Done() bool { return l.done }

// Next reads the next page; when it fails, the same page is asked again
// at the next call.
func (l *VersionListing) Next(ctx context.Context) error {
	if l.done || !l.p.HasMorePages() {
		l.done = true
		return nil
	}
	page, err := l.p.NextPage(ctx)
	if err != nil {
		return fmt.Errorf("list versions of s3://%s/%s: %w", l.bucket, l.key, err)
	}
	for _, v := range page.Versions {
		id := aws.ToString(v.VersionId)
		if aws.ToString(v.Key) != l.key || l.seen[id] {
			continue // a longer key with this one as prefix, or a version repeated at a page boundary
		}
		lv := ListedVersion{ID: id, Stored: aws.ToTime(v.LastModified), Multipart: multipart(aws.ToString(v.ETag)), Size: aws.ToInt64(v.Size)}
		if !lv.Multipart { // versions of a key come newest first
			l.first = lv
		} else if l.singlePut {
			continue
		}
		l.seen[id] = true
		l.newestFirst = append(l.newestFirst, lv)
		if len(l.newestFirst) > MaxOlderVersions { // keep the oldest listed
			drop := l.newestFirst[0]
			l.newestFirst = l.newestFirst[1:]
			delete(l.seen, drop.ID)
			l.cut = true
		}
	}
	if !l.p.HasMorePages() ||
		!slices.ContainsFunc(page.Versions, func(v types.ObjectVersion) bool { return aws.ToString(v.Key) <= l.key }) &&
			!slices.ContainsFunc(page.DeleteMarkers, func(d types.DeleteMarkerEntry) bool { return aws.ToString(d.Key) <= l.key }) {
		l.done = true // past the key
	}
	return nil
}

// Versions returns the versions listed so far, the oldest first: at most
// MaxOlderVersions, the oldest of those listed.
func (l *VersionListing) Versions() []ListedVersion {
	out := slices.Clone(l.newestFirst)
	slices.Reverse(out)
	return out
}

// Cut reports whether more versions were listed than Versions keeps.
func (l *VersionListing) Cut() bool { return l.cut }

// First returns the oldest version listed so far that was written by a
// single PUT (FirstVersion); its ID is "" when there is none.
func (l *VersionListing) First() ListedVersion { return l.first }

// FirstVersion is key's oldest version written by a single PUT and when
// S3 stored it ("" when the key has none), from one listing of that key
// alone. The object of a multipart upload is passed over: the sealer
// writes every object with one PUT (Put), and S3 dates such an object
// (LastModified), and orders it among its key's versions, by when the
// upload was begun, not completed; anyone with write access can begin
// one at a key before the sealer writes it, or before a key is retired,
// and complete it with anything later. Its ETag says so ("<hex>-<parts>").
// Each page of the listing is a request of its own (Call).
func (s *Store) FirstVersion(ctx context.Context, key string) (id string, stored time.Time, err error) {
	l := s.NewVersionListing(key)
	for !l.Done() {
		if err := s.call(ctx, "list the versions of "+key, l.Next); err != nil {
			return "", time.Time{}, err
		}
	}
	return l.First().ID, l.First().Stored, nil
}

// RetiredGrace is how much later than the retiring checkpoint a retired
// key's object or checkpoint may have been stored (RetiredVersion): S3
// dates versions to the second, by the clock of whichever of its
// servers took the write, and the sealer writes the hand-over's object
// milliseconds before its checkpoint. A thief of the retired key would
// have to write within that second of the hand-over.
const RetiredGrace = time.Second

// multipart reports whether an ETag is a multipart upload's
// ("<hex>-<number of parts>", quoted): a PutObject's is hex alone.
func multipart(etag string) bool {
	return strings.Contains(etag, "-")
}

// RetiredNotFirst is RetiredVersion's answer for a version that is not
// the first of its key: whatever its date, the sealer did not write it.
const RetiredNotFirst = "not the first version of its key, the one the sealer wrote (with one PUT: a multipart upload's object is not its)"

// RetiredVersion says why a version that a checkpoint of seq signed by a
// retired key rests on does not count ("" when it counts, and always for
// a key whose range is open). key is the checkpoint's key or the key of
// the object it signs. A retired key may be stolen after its retirement,
// so its signature counts only on what the sealer wrote while the key was
// current (docs/FORMAT.md section 7.4): the first version of the key (the
// sealer writes each key once, with one PUT, before anyone else can write
// over it), stored no more than RetiredGrace after the key's retirement
// (retiredAt). A version written over a sealed key, and a twin of a
// sealed batch put at a key of its own with a checkpoint at a seq that
// had none, are therefore passed over. A version S3 gives no date for is
// refused: its age cannot be told. Only retired keys' checkpoints cost
// listings: one of key, and those of retiredAt once per Store and range.
func (s *Store) RetiredVersion(ctx context.Context, trusted shared.Keyset, chain string, seq uint64, key, versionID string) (string, error) {
	r, ok := trusted.For(seq)
	if !ok || r.Open {
		return "", nil
	}
	first, stored, err := s.FirstVersion(ctx, key)
	if err != nil {
		return "", err
	}
	if first != versionID {
		return RetiredNotFirst, nil
	}
	retiredAt, err := s.retiredAt(ctx, trusted, chain, r.To)
	if err != nil {
		return "", err
	}
	switch {
	case stored.IsZero():
		return "of unknown age: S3 gives no date (LastModified) for it", nil
	case retiredAt.IsZero():
		return fmt.Sprintf("of unknown age: the checkpoint of seq %d, where the key's range ends, is not in the bucket and no later key signs a checkpoint, so when the key was retired cannot be told", r.To), nil
	case stored.After(retiredAt.Add(RetiredGrace)):
		return fmt.Sprintf("stored at %s, after the checkpoint of seq %d that retired the key (retired by %s at the latest)",
			stored.UTC().Format(time.RFC3339Nano), r.To, retiredAt.UTC().Format(time.RFC3339Nano)), nil
	}
	return "", nil
}

// RetirementDatedLate reports whether the checkpoint that closes the
// retired range holding seq (the one of the range's last seq, its first
// version) is itself stored after the key's retirement by RetiredVersion's
// rule, or is gone: what a copy of the bucket made after the hand-over
// (a replica, a restore) looks like, where every version is dated by the
// copy. On the bucket the sealer wrote it passes, and a retired key's
// first version stored late there is a forgery. False for a seq of an
// open range. Found once per Store and range (a listing and a GET), as
// retiredAt is.
func (s *Store) RetirementDatedLate(ctx context.Context, trusted shared.Keyset, chain string, seq uint64) (bool, error) {
	r, ok := trusted.For(seq)
	if !ok || r.Open {
		return false, nil
	}
	key := shared.CheckpointKey(s.prefix(), chain, r.To)
	s.retiring.Lock()
	late, known := s.retiring.late[key]
	s.retiring.Unlock()
	if known {
		return late, nil
	}
	late, err := s.retirementDatedLate(ctx, trusted, chain, r.To, key)
	if err != nil {
		return false, err
	}
	s.retiring.Lock()
	if s.retiring.late == nil {
		s.retiring.late = map[string]bool{}
	}
	s.retiring.late[key] = late
	s.retiring.Unlock()
	return late, nil
}

// retirementDatedLate is RetirementDatedLate of the checkpoint at key, of
// seq last (its range's last), found once per Store.
func (s *Store) retirementDatedLate(ctx context.Context, trusted shared.Keyset, chain string, last uint64, key string) (bool, error) {
	id, stored, err := s.FirstVersion(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		return true, nil // pruned, or never copied: only the next key dates the retirement
	case err != nil:
		return false, err
	}
	// RetiredVersion of that first version, without listing it again.
	retiredAt, err := s.retiredAt(ctx, trusted, chain, last)
	if err != nil {
		return false, err
	}
	if stored.IsZero() || retiredAt.IsZero() || stored.After(retiredAt.Add(RetiredGrace)) {
		return true, nil
	}
	// Stored long after it was signed: the sealer signs a checkpoint and
	// writes it at once (its clock within RetiredClockSkew of S3's), so
	// the bucket's dates are a copy's. With no later key to date the
	// retirement by (a backup taken between two rotations, read with the
	// keyset of both), the rule above dates it by this very copy.
	var obj *Object
	if err := s.call(ctx, "get "+key, func(ctx context.Context) error {
		var err error
		obj, err = s.Get(ctx, key, id)
		return err
	}); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnreadable) || errors.Is(err, ErrTooLarge) {
			return true, nil
		}
		return false, err
	}
	cp, err := trusted.Open(obj.Body)
	if err != nil || cp.Chain != chain || cp.Seq != last {
		return true, nil // not the sealer's checkpoint of that seq: nothing dates the range
	}
	return stored.After(cp.Time.Add(RetiredClockSkew + RetiredGrace)), nil
}

// RetiredClockSkew is how far the sealer's clock, which dates the
// checkpoints it signs, may be behind S3's, which dates what it stores
// (retiredAt).
const RetiredClockSkew = 5 * time.Minute

// retiredAt is when the key whose range ends at seq was retired, at the
// latest (zero when it cannot be told), found once per Store: when S3
// stored the first version of chain's checkpoint of seq, which the sealer
// wrote last with that key, and no later than the signed time of the
// first checkpoint after seq that verifies (the next key's, which the
// sealer signed after that write; a thief of the retired key cannot sign
// one) plus RetiredClockSkew. The signed time bounds a retirement dated
// by a checkpoint of seq put back by a thief once its retention had
// ended (its first version then the thief's): nothing the sealer wrote
// with the retired key is stored after it.
//
// A checkpoint of a key retired in its turn counts only as RetiredVersion
// takes it (the keys' ranges rise, so this ends). Nothing may hide that
// checkpoint: a delete marker over it (anyone with
// write access may put one over a checkpoint still under its retention)
// leaves its versions to be read, the oldest first, and files at
// checkpoint keys that do not verify are passed over however many there
// are (each costs a listing and a read or two, as in the readers'
// signedCheckpointAfter). A bound on them would let 64 files drop the
// bound, or, failing closed, stop a sealer restarting after a hand-over.
func (s *Store) retiredAt(ctx context.Context, trusted shared.Keyset, chain string, seq uint64) (time.Time, error) {
	key := shared.CheckpointKey(s.prefix(), chain, seq)
	s.retiring.Lock()
	at, ok := s.retiring.at[key]
	s.retiring.Unlock()
	if ok {
		return at, nil
	}
	_, at, err := s.FirstVersion(ctx, key)
	if err != nil {
		return time.Time{}, err
	}
	signedAt := func(next string, nextSeq uint64, versionID string) (time.Time, bool, error) {
		var obj *Object
		err := s.call(ctx, "get "+next, func(ctx context.Context) error {
			var err error
			obj, err = s.Get(ctx, next, versionID)
			return err
		})
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnreadable) || errors.Is(err, ErrTooLarge) {
			return time.Time{}, false, nil
		}
		if err != nil {
			return time.Time{}, false, err
		}
		cp, err := trusted.Open(obj.Body)
		if err != nil || cp.Chain != chain || cp.Seq != nextSeq {
			return time.Time{}, false, nil // not a checkpoint signed at its own key: passed over
		}
		// A key retired in its turn (a second rotation) may be stolen
		// too: its checkpoint dates this retirement only as it counts
		// itself, or its thief would date it as they like.
		if why, err := s.RetiredVersion(ctx, trusted, chain, nextSeq, next, obj.VersionID); err != nil || why != "" {
			return time.Time{}, false, err
		}
		return cp.Time, true, nil
	}
	// No key signs after seq (a closed last range): nothing there can
	// verify, and a chain that went on would be read to its end for nothing.
	_, nextKey := trusted.For(seq + 1)
	for after := seq; nextKey; {
		next, nextSeq, ok, err := s.CheckpointAfter(ctx, chain, after)
		if err != nil {
			return time.Time{}, err
		}
		if !ok {
			break
		}
		after = nextSeq
		// The current version first (nearly always the sealer's), then
		// the others, the oldest first: under a marker, or written over.
		signed, found, err := signedAt(next, nextSeq, "")
		if err != nil {
			return time.Time{}, err
		}
		if !found {
			ids, err := s.SealedVersions(ctx, next)
			if err != nil {
				return time.Time{}, err
			}
			for _, id := range ids {
				if signed, found, err = signedAt(next, nextSeq, id); err != nil || found {
					break
				}
			}
			if err != nil {
				return time.Time{}, err
			}
		}
		if found {
			if bound := signed.Add(RetiredClockSkew); at.IsZero() || bound.Before(at) {
				at = bound
			}
			break
		}
	}
	s.retiring.Lock()
	if s.retiring.at == nil {
		s.retiring.at = map[string]time.Time{}
	}
	s.retiring.at[key] = at
	s.retiring.Unlock()
	return at, nil
}
