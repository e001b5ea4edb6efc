// Package s3pace records how far a reader of the sealed log lists ahead of
// what it reads, for tests of streaming readers: a store that holds the
// whole listing before reading lists everything first.
package s3pace

import (
	"context"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
)

// Pace wraps an S3 client and counts the batch keys (under a year=
// folder) listed with ListObjectsV2 and the batch objects read, and the
// pages of versions listed.
type Pace struct {
	archive.S3API
	mu sync.Mutex
	// Listed and Read count batch keys listed and batch objects read.
	Listed, Read int
	// Ahead is, after each page of batch keys, Listed less Read.
	Ahead []int
	// VersionPages counts ListObjectVersions calls.
	VersionPages int
}

func batchKey(key string) bool { return strings.Contains(key, "/year=") }

// MaxAhead is the most batch keys listed and not yet read after any page.
func (p *Pace) MaxAhead() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := 0
	for _, a := range p.Ahead {
		m = max(m, a)
	}
	return m
}

// ListObjectsV2 counts the batch keys of the page.
func (p *Pace) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out, err := p.S3API.ListObjectsV2(ctx, in, opts...)
	if err == nil && batchKey(aws.ToString(in.Prefix)) {
		p.mu.Lock()
		p.Listed += len(out.Contents)
		p.Ahead = append(p.Ahead, p.Listed-p.Read)
		p.mu.Unlock()
	}
	return out, err
}

// ListObjectVersions counts the page.
func (p *Pace) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	p.mu.Lock()
	p.VersionPages++
	p.mu.Unlock()
	return p.S3API.ListObjectVersions(ctx, in, opts...)
}

// GetObject counts a batch object read.
func (p *Pace) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if batchKey(aws.ToString(in.Key)) {
		p.mu.Lock()
		p.Read++
		p.mu.Unlock()
	}
	return p.S3API.GetObject(ctx, in, opts...)
}
