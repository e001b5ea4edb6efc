// Package s3mem is an in-memory S3 for unit tests of the code above
// archive.S3API. It behaves like the real servers where the audit log
// relies on them: buckets with or without Object Lock, a new version per
// PutObject, If-None-Match: * answered with 412, lock mode and retain-until
// kept per version, SHA-256 checksums, lexical listing. It is no substitute
// for the end-to-end tests against versitygw.
package s3mem

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Version is one stored version of an object.
type Version struct {
	ID string
	// DeleteMarker marks a version that hides the object (a DELETE
	// without a version id on a versioned bucket).
	DeleteMarker bool
	Body         []byte
	LockMode     types.ObjectLockMode
	RetainUntil  time.Time
	Checksum     string
	// LegalHold is set when a legal hold is on the version.
	LegalHold bool
	// Stored is when the version was written (LastModified): the wall
	// clock, to the millisecond, later than every version written before;
	// for a multipart upload's object, when the upload was begun.
	Stored time.Time
	// ETag is the version's entity tag as S3 lists it: the MD5 of the
	// body for a PutObject, "<hex>-<parts>" for a multipart upload's
	// object.
	ETag string
}

// S3 is an in-memory object store. The zero value has no buckets.
type S3 struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	seq     int
	stored  time.Time // the newest version's Stored
	// Fail, if set, is called before every operation; a non-nil error is
	// returned as the operation's error (outage injection).
	Fail func(op, key string) error
}

type bucket struct {
	locked  bool
	objects map[string][]Version
}

// New returns a store with one bucket with Object Lock enabled.
func New(bucketName string) *S3 {
	s := &S3{}
	s.AddBucket(bucketName, true)
	return s
}

// AddBucket creates a bucket, with or without Object Lock.
func (s *S3) AddBucket(name string, locked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets == nil {
		s.buckets = map[string]*bucket{}
	}
	s.buckets[name] = &bucket{locked: locked, objects: map[string][]Version{}}
}

// Objects returns the current version of every object of a bucket, by key.
func (s *S3) Objects(name string) map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for k, vs := range s.buckets[name].objects {
		out[k] = vs[len(vs)-1].Body
	}
	return out
}

// Versions returns the versions of key, the oldest first (delete markers
// too).
func (s *S3) Versions(name, key string) []Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Version(nil), s.buckets[name].objects[key]...)
}

// PutVersion stores body as a new current version of key, locked, without
// any precondition: what an attacker with write access can do.
func (s *S3) PutVersion(name, key string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(s.buckets[name], key, body, types.ObjectLockModeCompliance, time.Now().Add(24*time.Hour))
}

func (s *S3) put(b *bucket, key string, body []byte, mode types.ObjectLockMode, until time.Time) Version {
	s.seq++
	sum := sha256.Sum256(body)
	md := md5.Sum(body)
	v := Version{ID: fmt.Sprintf("v%06d", s.seq), Body: bytes.Clone(body), LockMode: mode, RetainUntil: until,
		Checksum: base64.StdEncoding.EncodeToString(sum[:]), Stored: s.now(), ETag: `"` + hex.EncodeToString(md[:]) + `"`}
	b.objects[key] = append(b.objects[key], v)
	return v
}

// Upload is a multipart upload begun on a key (CreateMultipartUpload),
// which anyone with write access to the bucket can begin and complete
// whenever they like.
type Upload struct {
	s           *S3
	bucket, key string
	begun       time.Time
}

// BeginMultipart begins a multipart upload of key now. As on AWS S3, the
// object it completes is dated (LastModified) when the upload was begun,
// not when it was completed, and takes its place among the key's versions
// by that date.
func (s *S3) BeginMultipart(name, key string) *Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Upload{s: s, bucket: name, key: key, begun: s.now()}
}

// Complete stores body as the upload's object, in one part, locked: a new
// version of the key dated when the upload was begun, with a multipart
// ETag. It returns the version's id.
func (u *Upload) Complete(body []byte) string {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	sum, md := sha256.Sum256(body), md5.Sum(body)
	parts := md5.Sum(md[:])
	v := Version{ID: fmt.Sprintf("v%06d", s.seq), Body: bytes.Clone(body), LockMode: types.ObjectLockModeCompliance, RetainUntil: time.Now().Add(24 * time.Hour),
		Checksum: base64.StdEncoding.EncodeToString(sum[:]), Stored: u.begun, ETag: `"` + hex.EncodeToString(parts[:]) + `-1"`}
	b := s.buckets[u.bucket]
	vs := b.objects[u.key]
	i := len(vs)
	for i > 0 && vs[i-1].Stored.After(u.begun) {
		i--
	}
	b.objects[u.key] = append(vs[:i:i], append([]Version{v}, vs[i:]...)...)
	return v.ID
}

func apiErr(status int, code string) error {
	return &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: code},
	}
}

func (s *S3) bucket(op, name, key string) (*bucket, error) {
	if s.Fail != nil {
		if err := s.Fail(op, key); err != nil {
			return nil, err
		}
	}
	b, ok := s.buckets[name]
	if !ok {
		return nil, apiErr(http.StatusNotFound, "NoSuchBucket")
	}
	return b, nil
}

// Remove takes key and all its versions away, as someone with access to
// the storage itself (not the S3 API) can.
func (s *S3) Remove(name, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.buckets[name].objects, key)
}

// Delete puts a delete marker on key, as a DELETE without a version id
// does on a versioned bucket (Object Lock allows it: no version is removed).
func (s *S3) Delete(name, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	b := s.buckets[name]
	b.objects[key] = append(b.objects[key], Version{ID: fmt.Sprintf("v%06d", s.seq), DeleteMarker: true, Stored: s.now()})
}

// ExtendRetention sets the retain-until date of one version of key, as
// PutObjectRetention does (S3 lets anyone allowed extend a COMPLIANCE
// retention, never shorten it).
func (s *S3) ExtendRetention(name, key, versionID string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.buckets[name].objects[key]
	for i := range vs {
		if vs[i].ID == versionID && until.After(vs[i].RetainUntil) {
			vs[i].RetainUntil = until
		}
	}
}

// Later makes the versions written from now on dated at least d after
// the last one: a write that much later, without waiting for it.
func (s *S3) Later(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored = s.stored.Add(d)
}

// now is the Stored time of a version written now: the wall clock to the
// millisecond (as S3 lists it), after the last version's, so that the
// order of writes is the order of their times, as on one S3 region.
func (s *S3) now() time.Time {
	t := time.Now().UTC().Truncate(time.Millisecond)
	if !t.After(s.stored) {
		t = s.stored.Add(time.Millisecond)
	}
	s.stored = t
	return t
}

func (s *S3) version(b *bucket, key string, id *string) (Version, error) {
	vs := b.objects[key]
	if len(vs) == 0 {
		return Version{}, apiErr(http.StatusNotFound, "NoSuchKey")
	}
	if id == nil || *id == "" {
		if vs[len(vs)-1].DeleteMarker {
			return Version{}, apiErr(http.StatusNotFound, "NoSuchKey")
		}
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.ID == *id {
			return v, nil
		}
	}
	return Version{}, apiErr(http.StatusNotFound, "NoSuchVersion")
}

// PutObject stores a new version; If-None-Match: * fails with 412 when the
// key exists.
func (s *S3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket("PutObject", aws.ToString(in.Bucket), aws.ToString(in.Key))
	if err != nil {
		return nil, err
	}
	if aws.ToString(in.IfNoneMatch) == "*" && len(b.objects[aws.ToString(in.Key)]) > 0 {
		return nil, apiErr(http.StatusPreconditionFailed, "PreconditionFailed")
	}
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	if in.ChecksumSHA256 != nil {
		sum := sha256.Sum256(body)
		if *in.ChecksumSHA256 != base64.StdEncoding.EncodeToString(sum[:]) {
			return nil, apiErr(http.StatusBadRequest, "BadDigest")
		}
	}
	v := s.put(b, aws.ToString(in.Key), body, in.ObjectLockMode, aws.ToTime(in.ObjectLockRetainUntilDate))
	if in.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn {
		vs := b.objects[aws.ToString(in.Key)]
		vs[len(vs)-1].LegalHold = true
	}
	return &s3.PutObjectOutput{VersionId: aws.String(v.ID)}, nil
}

// GetObject returns a version's bytes.
func (s *S3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket("GetObject", aws.ToString(in.Bucket), aws.ToString(in.Key))
	if err != nil {
		return nil, err
	}
	v, err := s.version(b, aws.ToString(in.Key), in.VersionId)
	if err != nil {
		return nil, err
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(v.Body)), VersionId: aws.String(v.ID), LastModified: aws.Time(v.Stored)}, nil
}

// HeadObject returns a version's lock state and checksum.
func (s *S3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket("HeadObject", aws.ToString(in.Bucket), aws.ToString(in.Key))
	if err != nil {
		return nil, err
	}
	v, err := s.version(b, aws.ToString(in.Key), in.VersionId)
	if err != nil {
		return nil, err
	}
	return &s3.HeadObjectOutput{VersionId: aws.String(v.ID), ObjectLockMode: types.ObjectLockMode(v.LockMode),
		ObjectLockRetainUntilDate: aws.Time(v.RetainUntil), ChecksumSHA256: aws.String(v.Checksum), LastModified: aws.Time(v.Stored),
		ObjectLockLegalHoldStatus: legalHold(v)}, nil
}

func legalHold(v Version) types.ObjectLockLegalHoldStatus {
	if v.LegalHold {
		return types.ObjectLockLegalHoldStatusOn
	}
	return types.ObjectLockLegalHoldStatusOff
}

// GetObjectRetention returns a version's retention.
func (s *S3) GetObjectRetention(_ context.Context, in *s3.GetObjectRetentionInput, _ ...func(*s3.Options)) (*s3.GetObjectRetentionOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket("GetObjectRetention", aws.ToString(in.Bucket), aws.ToString(in.Key))
	if err != nil {
		return nil, err
	}
	v, err := s.version(b, aws.ToString(in.Key), in.VersionId)
	if err != nil {
		return nil, err
	}
	return &s3.GetObjectRetentionOutput{Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionMode(v.LockMode), RetainUntilDate: aws.Time(v.RetainUntil)}}, nil
}

// ListObjectsV2 lists current keys under the prefix in lexical order, up to
// MaxKeys (default 1000) per page.
func (s *S3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket("ListObjectsV2", aws.ToString(in.Bucket), aws.ToString(in.Prefix))
	if err != nil {
		return nil, err
	}
	var keys []string
	for k, vs := range b.objects {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) && k > aws.ToString(in.StartAfter) && k > aws.ToString(in.ContinuationToken) && !vs[len(vs)-1].DeleteMarker {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	limit := int(aws.ToInt32(in.MaxKeys))
	if limit <= 0 {
		limit = 1000
	}
	out := &s3.ListObjectsV2Output{}
	if len(keys) > limit {
		keys = keys[:limit]
		out.IsTruncated = aws.Bool(true)
		out.NextContinuationToken = aws.String(keys[len(keys)-1])
	}
	for _, k := range keys {
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k)})
	}
	out.KeyCount = aws.Int32(int32(len(keys)))
	return out, nil
}

// ListObjectVersions lists every version and delete marker under the
// prefix, keys ascending, each key's newest first, up to MaxKeys (default
// 1000) versions per page; a page may end inside a key's versions, as on
// S3, and the next starts after KeyMarker and VersionIdMarker.
func (s *S3) ListObjectVersions(_ context.Context, in *s3.ListObjectVersionsInput, _ ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket("ListObjectVersions", aws.ToString(in.Bucket), aws.ToString(in.Prefix))
	if err != nil {
		return nil, err
	}
	marker, vmarker := aws.ToString(in.KeyMarker), aws.ToString(in.VersionIdMarker)
	var keys []string
	for k := range b.objects {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) && k >= marker {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	limit := int(aws.ToInt32(in.MaxKeys))
	if limit <= 0 {
		limit = 1000
	}
	out := &s3.ListObjectVersionsOutput{}
	n := 0
	for _, k := range keys {
		vs := b.objects[k]
		skip := k == marker // the marker key: its versions after vmarker, or none
		for i := len(vs) - 1; i >= 0; i-- {
			if skip {
				if vmarker != "" && vs[i].ID == vmarker {
					skip = false
				}
				continue
			}
			if n == limit {
				out.IsTruncated = aws.Bool(true)
				return out, nil
			}
			n++
			out.NextKeyMarker, out.NextVersionIdMarker = aws.String(k), aws.String(vs[i].ID)
			latest := aws.Bool(i == len(vs)-1)
			if vs[i].DeleteMarker {
				out.DeleteMarkers = append(out.DeleteMarkers, types.DeleteMarkerEntry{Key: aws.String(k), VersionId: aws.String(vs[i].ID), IsLatest: latest,
					LastModified: aws.Time(vs[i].Stored)})
			} else {
				out.Versions = append(out.Versions, types.ObjectVersion{Key: aws.String(k), VersionId: aws.String(vs[i].ID), IsLatest: latest,
					LastModified: aws.Time(vs[i].Stored), ETag: aws.String(vs[i].ETag), Size: aws.Int64(int64(len(vs[i].Body)))})
			}
		}
	}
	out.NextKeyMarker, out.NextVersionIdMarker = nil, nil
	return out, nil
}

// GetObjectLockConfiguration answers like S3 for buckets with and without
// Object Lock.
func (s *S3) GetObjectLockConfiguration(_ context.Context, in *s3.GetObjectLockConfigurationInput, _ ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket("GetObjectLockConfiguration", aws.ToString(in.Bucket), "")
	if err != nil {
		return nil, err
	}
	if !b.locked {
		return nil, apiErr(http.StatusNotFound, "ObjectLockConfigurationNotFoundError")
	}
	return &s3.GetObjectLockConfigurationOutput{ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}}, nil
}

// CreateBucket creates a bucket.
func (s *S3) CreateBucket(_ context.Context, in *s3.CreateBucketInput, _ ...func(*s3.Options)) (*s3.CreateBucketOutput, error) {
	s.mu.Lock()
	if _, ok := s.buckets[aws.ToString(in.Bucket)]; ok {
		s.mu.Unlock()
		return nil, apiErr(http.StatusConflict, "BucketAlreadyOwnedByYou")
	}
	s.mu.Unlock()
	s.AddBucket(aws.ToString(in.Bucket), aws.ToBool(in.ObjectLockEnabledForBucket))
	return &s3.CreateBucketOutput{}, nil
}
