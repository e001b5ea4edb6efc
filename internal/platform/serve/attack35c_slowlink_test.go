package serve

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestAttack35cAWriteTimeoutIsNotCutOverHTTP2: aegis query sets
// WriteTimeout (a minute: an answer has that long to be written, its
// proof built within DefaultDeadline) and AnswerTimeout is left at 30 s.
// Over HTTP/1 an answer that starts at once has the whole WriteTimeout;
// over HTTP/2 answerDeadline replaces the stream's WriteTimeout with
// AnswerTimeout from the first byte, so an honest auditor on a slow link
// fetching a large proof bundle over HTTP/2 (every browser on HTTPS) is
// reset after 30 s where over HTTP/1 it had a minute. Scaled: WriteTimeout
// 4 s, AnswerTimeout 1 s, an answer read in about 2 s. Now an answer's
// time over HTTP/2 is never less than the WriteTimeout.
func TestAttack35cAWriteTimeoutIsNotCutOverHTTP2(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 16<<20)
	s := listenTLS(t, Options{WriteTimeout: 4 * time.Second, AnswerTimeout: time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) })})
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		res, err := (&http.Client{Transport: tr}).Get(s.URL() + "/v1/x")
		if err != nil {
			t.Fatal(err)
		}
		n, buf := 0, make([]byte, 64<<10)
		for { // about 2.6 s for 16 MiB (past the client's 4 MiB window)
			m, err := res.Body.Read(buf)
			n += m
			if err != nil {
				if err != io.EOF {
					t.Errorf("%s: %d bytes of %d, then %v", res.Proto, n, len(body), err)
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		res.Body.Close()
		tr.CloseIdleConnections()
	}
}
