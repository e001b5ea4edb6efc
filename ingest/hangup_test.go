package ingest

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// A caller who hangs up before its answer was told nothing, so the service
// records no escalation for it. An attack (2026-11-30) found that a
// caller could POST a decision of any decision id (here another token's)
// with ?durability=sealed and hang up: the service then recorded its own
// fail-safe override of that decision, recorded_by aegis-ingest, which
// no caller was supposed to be able to make it write, and which set the
// other token's BLOCK decision to CHALLENGE without naming the caller.
func TestACallerWhoHangsUpGetsNoEscalation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, srv := sealerlessService(ctx, t)
	do := func(token, query, body string, timeout time.Duration) int {
		rctx, rcancel := context.WithTimeout(ctx, timeout)
		defer rcancel()
		req, _ := http.NewRequestWithContext(rctx, "POST", srv.URL+"/v1/decisions"+query, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1 // hung up
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// A's decision, recorded normally.
	if code := do("a-token-0123456789abc", "", `{"environment":"prod","decision":{"decision_id":"d-of-A","action":"BLOCK","confidence_score":0.9,"policy_version":"p","user_id":"victim","session_id":"s"}}`, 10*time.Second); code != 201 {
		t.Fatalf("A: %d", code)
	}
	// B: same decision id, ALLOW, sealed durability, hangs up after 300 ms.
	if code := do("b-token-0123456789abc", "?durability=sealed", `{"environment":"prod","decision":{"decision_id":"d-of-A","action":"ALLOW","confidence_score":0.9,"policy_version":"p","user_id":"victim","session_id":"s"}}`, 300*time.Millisecond); code != -1 {
		t.Fatalf("B: %d", code)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("decisions"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		recs := cl.PollFetches(pctx).Records()
		pcancel()
		for _, r := range recs {
			env, _, err := shared.ParseRecord(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("published: %s", r.Value)
			if env.Override != nil && env.RecordedBy == EscalationRecordedBy {
				t.Errorf("token B's hang-up made ingest record recorded_by %q: override of %s (A's decision) to %s, reviewer %s",
					env.RecordedBy, env.Override.DecisionID, env.Override.NewAction, env.Override.ReviewerID)
				return
			}
		}
	}
}

// A caller that half-closes its side after sending a sealed-mode decision
// (shutdown(SHUT_WR), as some clients and proxies do) and keeps reading:
// net/http sees EOF and cancels r.Context(), and the service, told the
// caller went away, records no escalation: the caller must then read no
// answer at all. An attack (2026-11-30) found net/http completing the
// response as "200 OK" with an empty body, a 2xx for a decision neither
// confirmed recorded nor escalated.
func TestACallerWhoHalfClosesReadsNoAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, srv := sealerlessService(ctx, t)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"environment":"prod","decision":{"decision_id":"d-1","action":"ALLOW","confidence_score":0.9,"policy_version":"p","user_id":"u","session_id":"s"}}`
	req := "POST /v1/decisions?durability=sealed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer b-token-0123456789abc\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the handler is waiting for the seal
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Logf("no response (as it should be): %v", err)
		return
	}
	t.Errorf("a caller that half-closed read %s (Content-Length %d) for a decision neither confirmed nor escalated", resp.Status, resp.ContentLength)
}

// sealerlessService is the service over a real producer on an in-process
// broker, with a spool and no sealer (a sealed-mode call waits for a seal
// that never comes), for tokens svc-a and svc-b of prod.
func sealerlessService(ctx context.Context, t *testing.T) (*kfake.Cluster, *httptest.Server) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p, err := producer.New(ctx, producer.Config{Brokers: c.ListenAddrs(), Environment: "prod", Topic: "decisions", SealedTopic: "sealed",
		SpoolDir: t.TempDir(), SealTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	tok, err := httpauth.Parse(strings.NewReader("svc-a a-token-0123456789abc prod\nsvc-b b-token-0123456789abc prod\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Recorders: map[string]Recorder{"prod": p}, Tokens: tok, MaxBodyBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return c, srv
}
