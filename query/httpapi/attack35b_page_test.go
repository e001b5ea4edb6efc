package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestAttack35bALateProofDoesNotVerifyTheNextDecision: the page hides what
// an earlier look-up showed before it looks up (a4ab853), but a look-up
// still running when the next starts goes on and writes into the page
// when its answers come: its checks are added to the new decision's list
// and its verdict replaces the new one's. A lying query service (the page
// trusts it for nothing: "the service is not trusted to answer the right
// one") holds back the proof of a genuine decision A the auditor opened,
// and answers it once the auditor has followed a link to decision B, whose
// index item it changed: B's changed fields end up on screen under
// "VERIFIED: decision A …", the green verdict, where B's own verdict was
// FAILED. What the attacker gains: a tampered decision shown verified.
func TestAttack35bALateProofDoesNotVerifyTheNextDecision(t *testing.T) {
	f := setup(t)
	// B: an index item that differs from S3 (as "an index item that
	// differs from S3 fails" tampers it).
	b := f.tamperedAction
	f.tamper(t, b, "action", &types.AttributeValueMemberS{Value: "ALLOW"})
	f.tamper(t, b, "user_id", &types.AttributeValueMemberS{Value: "someone-else"})
	a := f.good
	target, err := url.Parse(f.base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/decisions/"+a+"/proof" {
			select {
			case held <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			case <-time.After(time.Minute):
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer liar.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	via := *f
	via.base = liar.URL
	p := openPage(t, &via)
	p.open("#decision=" + a)
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatal("the proof of A was never asked for")
	}
	// The auditor follows a link to B while A's proof is on its way.
	p.eval(`location.hash = ` + strconv.Quote("#decision="+b))
	if v, checks := p.verdict("verdict", "checks"); v != "fail" {
		t.Fatalf("B, tampered, alone: verdict %s: %s", v, checks)
	}
	close(release) // A's proof comes now
	time.Sleep(3 * time.Second)
	shownID := p.text("#d-id")
	v, checks := p.verdict("verdict", "checks")
	text := p.text("#verdict")
	if shownID != b || v != "fail" || strings.Contains(text, a) {
		t.Fatalf("on screen: decision %q (link #decision=%s) under verdict %s %q; checks:\n%s", shownID, b, v, text, checks)
	}
}
