package serve

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/aegisai/audit/internal/testbed/testcerts"
)

// listenTLS starts a server of o over TLS (a certificate of its own; an
// address and a logger when o has none), closed when the test ends.
func listenTLS(t *testing.T, o Options) *Server {
	t.Helper()
	ca := testcerts.NewCA(t)
	pair := ca.Server(t, t.TempDir(), "aegis.test", 1)
	cfg, err := TLSFiles{Cert: pair.CertFile, Key: pair.KeyFile}.Config(nil, flag)
	if err != nil {
		t.Fatal(err)
	}
	o.TLS = cfg
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	s, err := Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// h2Client speaks raw HTTP/2 frames on conn, as an attacker does: it
// sends its settings, then reads what the server sends in a goroutine,
// acknowledging its settings and passing on the answers' statuses and
// the streams reset.
type h2Client struct {
	fr     *http2.Framer
	mu     sync.Mutex // the framer's writes: the caller's and the reader's acks
	hb     bytes.Buffer
	enc    *hpack.Encoder
	status chan string // the :status of each answer's headers
	reset  chan uint32 // the streams the server reset
}

// dialH2 opens a TLS connection to addr speaking h2 with settings.
func dialH2(t *testing.T, addr string, settings ...http2.Setting) *h2Client {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return newH2Client(c, settings...)
}

// newH2Client starts the client on a connection whose TLS is done.
func newH2Client(c net.Conn, settings ...http2.Setting) *h2Client {
	c.Write([]byte(http2.ClientPreface))
	h := &h2Client{fr: http2.NewFramer(c, c), status: make(chan string, 1000), reset: make(chan uint32, 1000)}
	h.enc = hpack.NewEncoder(&h.hb)
	h.fr.WriteSettings(settings...)
	go func() {
		dec := hpack.NewDecoder(4096, nil)
		for {
			f, err := h.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					h.mu.Lock()
					h.fr.WriteSettingsAck()
					h.mu.Unlock()
				}
			case *http2.HeadersFrame:
				fs, _ := dec.DecodeFull(f.HeaderBlockFragment())
				for _, field := range fs {
					if field.Name == ":status" {
						select {
						case h.status <- field.Value:
						default:
						}
					}
				}
			case *http2.RSTStreamFrame: // REFUSED_STREAM, or PROTOCOL_ERROR past the cap once the settings are acknowledged
				select {
				case h.reset <- f.StreamID:
				default:
				}
			}
		}
	}()
	return h
}

// send opens stream id with headers (name, value pairs) and no body,
// in 16 KiB frames (HEADERS, then CONTINUATIONs).
func (h *h2Client) send(id uint32, headers [][2]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hb.Reset()
	for _, f := range headers {
		h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	block := h.hb.Bytes()
	first := block[:min(len(block), 16<<10)]
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: true, EndHeaders: len(first) == len(block)})
	for rest := block[len(first):]; len(rest) > 0; {
		n := min(len(rest), 16<<10)
		h.fr.WriteContinuation(id, n == len(rest), rest[:n])
		rest = rest[n:]
	}
}

// sendStreams opens n streams (1, 3, 5...) with the same headers.
func (h *h2Client) sendStreams(n int, headers [][2]string) {
	for i := range n {
		h.send(uint32(2*i+1), headers)
	}
}
