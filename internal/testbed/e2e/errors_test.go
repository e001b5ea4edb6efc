package e2e

import (
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

// forward accepts on ln and relays each connection to target.
func forward(ln net.Listener, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			s, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer s.Close()
			go io.Copy(s, c)
			io.Copy(c, s)
		}()
	}
}

// Issue 5.5: an S3 endpoint that is down when the sealer starts is an
// outage like any other: the sealer says the call failed and retries with
// backoff (it is not "no Object Lock", and it does not give up after three
// tries), and seals once S3 answers.
func TestSealerWaitsForAnUnreachableS3(t *testing.T) {
	if !strings.HasPrefix(stack.S3Endpoint, "http://") {
		t.Skipf("relays plain TCP to the S3 endpoint to bring it up: needs an http:// endpoint, not %q", stack.S3Endpoint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there yet: S3 is down
	downCfg := stack.S3Config()
	downCfg.Endpoint = "http://" + addr
	down, err := awsconn.S3(ctx, downCfg)
	if err != nil {
		t.Fatal(err)
	}
	p := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.S3 = down }})
	select {
	case <-p.Sealer.Ready():
		t.Fatal("the sealer got ready without S3")
	case <-time.After(2 * time.Second):
	}
	if err := p.Err(); err != nil {
		t.Fatalf("the sealer gave up while S3 was unreachable: %v", err)
	}
	if r := metricValue(t, p, "aegis_sealer_s3_retries_total", ""); r < 2 {
		t.Fatalf("%v S3 retries in 2s of outage, want the check retried", r)
	}
	u, _ := url.Parse(stack.S3Endpoint)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port was taken meanwhile: %v", err)
	}
	defer ln.Close()
	go forward(ln, u.Host)
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 5, 0, 2, 21, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, 5); err != nil {
		t.Fatalf("after S3 came up: %v", err)
	}
}

// Issue 5.5: a bucket that is missing, or exists without Object Lock,
// stops the sealer with a message saying so and what to do.
func TestBucketProblemsAreNamed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name   string
		create bool
		setup  func(bucket string) error
		want   []string
	}{
		{"missing", false, nil, []string{"does not exist", "--create-bucket"}},
		{"unlocked", true, func(b string) error { return createPlainBucket(ctx, b) }, []string{"without Object Lock", "cannot be turned on"}},
		{"unlocked, not created", false, func(b string) error { return createPlainBucket(ctx, b) }, []string{"without Object Lock"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := stack.BucketPrefix + "nolock-" + strings.ReplaceAll(tc.name, " ", "") + "-" + time.Now().Format("150405.000000")
			bucket = strings.NewReplacer(",", "", ".", "").Replace(bucket)
			if tc.setup != nil {
				if err := tc.setup(bucket); err != nil {
					t.Fatal(err)
				}
			}
			cfg := pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.Bucket, c.CreateBucket = bucket, tc.create }}
			p, err := pipeline.Start(ctx, stack, cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = p.WaitFor(ctx, func() bool { return false })
			p.Stop()
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("sealer stopped with %v; want it to say %q", err, w)
				}
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

func createPlainBucket(ctx context.Context, bucket string) error {
	cl, err := stack.S3(ctx)
	if err != nil {
		return err
	}
	_, err = cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	return err
}

// A session timeout the brokers refuse stops the sealer with a message
// naming group.min.session.timeout.ms, instead of retrying the join
// forever in silence.
func TestRefusedSessionTimeoutIsNamed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.SessionTimeout = 300 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	err = p.WaitFor(ctx, func() bool { return false })
	if err == nil || !strings.Contains(err.Error(), "group.min.session.timeout.ms") {
		t.Fatalf("sealer: %v, want the refused session timeout named", err)
	}
}
