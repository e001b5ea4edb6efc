package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/s3refuse"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/query/httpapi"
	"github.com/aegisai/audit/replayer"
)

// Someone with s3:PutObject (no access to the service's policy) writes a
// new version over the sealed object of a decision: with
// StorageClass=DEEP_ARCHIVE (AWS then answers a GET of the current version
// 403 InvalidObjectState) or SSE-KMS under their own KMS key (403
// AccessDenied: the service may not kms:Decrypt). The sealed version stays
// readable by its version id under Object Lock (s3refuse answers as AWS
// does for such a current version).
// The proof reads the sealed version under it (200, as for any version
// written over a sealed one); before, it answered 503 "S3 refused this
// service's access: nothing found wrong" (found by an attack).
func TestProofReadsTheSealedVersionUnderAnUnreadableOne(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	part, err := layout.LoadDecision(ctx, f.p.DynamoDB, f.p.Cfg.Table, f.good)
	if err != nil || len(part.Decisions) != 1 {
		t.Fatal(part, err)
	}
	key := part.Decisions[0].Object
	for _, c := range [][2]string{s3refuse.Archived, s3refuse.ForeignKMS} {
		t.Run(c[0], func(t *testing.T) {
			s3c := s3refuse.Client(t, stack.S3Endpoint, localstack.AccessKey, localstack.SecretKey, key, c[0], c[1])
			tokens, _ := httpauth.Parse(strings.NewReader(fmt.Sprintf("prod %s %s read\n", prodToken, f.p.Cfg.Chain)), "tokens")
			svc, err := httpapi.New(httpapi.Config{
				Reader: f.p.Reader, Tokens: tokens, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey,
				Evidence: &query.Evidence{Config: replayer.ProveConfig{S3: s3c, Bucket: f.p.Cfg.Bucket, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey}},
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(svc.Handler())
			defer srv.Close()
			resp := call(t, "GET", srv.URL+"/v1/decisions/"+url.PathEscape(f.good)+"/proof", prodToken)
			if resp.status != http.StatusOK {
				t.Fatalf("a version S3 will not give (%s) over the sealed %s: %d %s, want the sealed version read (200)", c[0], key, resp.status, resp.body)
			}
		})
	}
}
