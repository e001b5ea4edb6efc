// Package serve runs the HTTP side of a long-running role: its own API (if
// any) next to the operational endpoints every role has:
//
//	/healthz        200 while the process runs
//	/readyz         200 when Ready returns nil, else 503 with the reason
//	/metrics        Prometheus metrics of the role's registry
//	/debug/pprof/   Go's profiler (only when Options.Profiling)
//
// Shutdown stops accepting connections and drains the requests in flight.
package serve

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/net/netutil"
)

// Options configures a Server.
type Options struct {
	// Addr is the listen address ("127.0.0.1:0" picks a free port).
	Addr string
	// Handler serves every path the operational endpoints do not (nil:
	// 404).
	Handler http.Handler
	// Registry is served at /metrics (nil: no /metrics), and holds the
	// server's own metrics.
	Registry *prometheus.Registry
	// MetricsElsewhere: Registry is served on another address (a role's
	// --metrics-addr), not here: an API address callers reach shows them
	// no request counts, lags or runtime figures.
	MetricsElsewhere bool
	// Ready reports whether the role is ready to serve (nil: always).
	Ready func() error
	// Profiling serves /debug/pprof/.
	Profiling bool
	// ReadTimeout bounds reading a request, body included (default 30s);
	// WriteTimeout bounds writing the answer (default: none, since a
	// handler may wait for a seal); IdleTimeout bounds keep-alive
	// connections (default 2 min).
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// TLS serves HTTPS with this configuration (nil: plain HTTP); see
	// TLSFiles.Config.
	TLS *tls.Config
	// HideReadyReason answers /readyz's 503 without its reason (which can
	// name a broker's address, a topic or a table) and logs the reason
	// instead, at most once a minute: for an API address that callers
	// reach, where --metrics-addr still gives it.
	HideReadyReason bool
	// MaxConnections caps the connections open at once (0: no cap).
	// Beyond it, new ones wait in the kernel's backlog until one closes:
	// a flood of idle or slow connections is held to the cap (each
	// HTTP/2 one still carries up to MaxStreams at once). With a cap and a Registry, the
	// connections open are the gauge aegis_http_open_connections.
	MaxConnections int
	// AnswerTimeout bounds writing an answer over HTTP/2 from its first
	// byte (default 30s, and never less than WriteTimeout): a stream whose
	// answer cannot be written by then
	// (a client that opens no flow-control window) is reset, its handler,
	// headers and goroutine freed. Over HTTP/1 WriteTimeout alone applies
	// (a connection is one request at a time, held to MaxConnections).
	// Over both, a write to the connection that makes no progress for
	// this long closes it (a client that stopped reading).
	AnswerTimeout time.Duration
	// MaxConnectionAge, with a cap, closes a connection after the first
	// answer past this age (Connection: close; GOAWAY over HTTP/2), so that
	// a few clients that keep requesting cannot hold every place for good:
	// those waiting get theirs in turn (default 1 minute).
	MaxConnectionAge time.Duration
	Logger           *zap.Logger
}

// Server is a started listener; Serve serves it.
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *zap.Logger
	// tls: it serves HTTPS. Not srv.TLSConfig != nil: http.Server.Serve
	// sets a TLSConfig of its own for HTTP/2 on a plain server too (whose
	// URL then read https:// once it served: found by a benchmark).
	tls bool
}

// Listen binds the address at once, so that a bad address or a port in use
// is an error at start and the bound address is known.
func Listen(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	mux := http.NewServeMux()
	var lastReason atomic.Int64 // when a hidden reason was last logged
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if o.Ready != nil {
			if err := o.Ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				if o.HideReadyReason {
					fmt.Fprintln(w, "not ready (the reason is in the service's log, and on its --metrics-addr /readyz)")
					if now := time.Now(); now.Sub(time.Unix(0, lastReason.Load())) >= time.Minute {
						lastReason.Store(now.UnixNano())
						o.Logger.Warn("not ready", zap.Error(err))
					}
					return
				}
				fmt.Fprintln(w, "not ready:", err)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	paths := []string{"/healthz", "/readyz"}
	if o.Registry != nil && !o.MetricsElsewhere {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
		paths = append(paths, "/metrics")
	}
	// Another method on these is refused as such, not passed to Handler
	// (which would answer that it has no such endpoint).
	for _, p := range paths {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, r.Method+" is not allowed on "+p+"; use GET", http.StatusMethodNotAllowed)
		})
	}
	if o.Profiling {
		mux.HandleFunc("/debug/pprof/", bounded(pprof.Index)) // heap, allocs, goroutine... take ?seconds too
		mux.HandleFunc("/debug/pprof/profile", bounded(pprof.Profile))
		mux.HandleFunc("/debug/pprof/trace", bounded(pprof.Trace))
	}
	if o.Handler != nil {
		mux.Handle("/", o.Handler)
	}
	// An HTTP/2 answer's time from its first byte: never less than a
	// WriteTimeout the service set (aegis query's minute), which Go counts
	// from the stream's start and answerDeadline replaces: a large proof
	// over a slow link was cut at 30 s over HTTP/2 where HTTP/1 had the
	// minute (TestAttack35cAWriteTimeoutIsNotCutOverHTTP2).
	answer := max(cmp.Or(o.AnswerTimeout, 30*time.Second), o.WriteTimeout)
	var handler http.Handler = answerDeadline(mux, answer, o.WriteTimeout == 0)
	if o.TLS != nil {
		inner := handler
		// Browsers that reached the page over HTTPS come back over HTTPS.
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
			inner.ServeHTTP(w, r)
		})
	}
	var reg prometheus.Registerer
	if o.Registry != nil {
		reg = o.Registry
	}
	errorLog, err := newErrorLog(o.Logger.Named("http"), reg)
	if err != nil {
		return nil, err
	}
	var open atomic.Int64
	if o.Registry != nil && o.MaxConnections > 0 {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aegis_http_open_connections",
			Help: "Connections open to this HTTP server (at most its --max-connections)."}, func() float64 { return float64(open.Load()) })
		if err := o.Registry.Register(g); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	if o.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, o.MaxConnections)
		handler = closeWhenOld(handler, cmp.Or(o.MaxConnectionAge, time.Minute))
	}
	ln = progressListener{Listener: ln, d: answer}
	return &Server{ln: ln, log: o.Logger, tls: o.TLS != nil, srv: &http.Server{
		Handler: handler, ReadHeaderTimeout: min(o.ReadTimeout, 10*time.Second), ReadTimeout: o.ReadTimeout, MaxHeaderBytes: MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: MaxStreams},
		// Without a WriteTimeout of its own, the server's is the answer's
		// (answerDeadline lifts it for the Handler): net/http's HTTP/2
		// server answers a header list over MaxHeaderBytes (431) and a
		// request with a connection-specific header such as "te: gzip"
		// (400) itself, past answerDeadline, and those answers, held by a
		// closed window, kept their streams for as long as the connection
		// lived (TestAttack35cAnAnswerGoWritesItselfHoldsNoStream).
		WriteTimeout: cmp.Or(o.WriteTimeout, answer), IdleTimeout: o.IdleTimeout, TLSConfig: o.TLS, ErrorLog: errorLog,
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connStart{}, time.Now())
		},
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		},
	}}, nil
}

// MaxStreams is the requests an HTTP/2 connection carries at once (Go's
// default 250): each may hold its headers (up to MaxHeaderBytes) until its
// answer is written or AnswerTimeout passes, so a connection holds at most
// about MaxStreams times 73 KiB (measured: 100 streams of 60 KiB headers
// held 7.3 MiB of heap).
const MaxStreams = 100

// answerDeadline gives an HTTP/2 answer AnswerTimeout from its first byte
// to be written. Without it a client that opens no flow-control window
// held every stream it sent, answered or not (a 401 to a request without
// a token too), with its headers and goroutine, for as long as the
// connection lived: no read, idle or write timeout ends a connection with
// streams open (an attack, 2026-12-01: 100 streams of 60 KiB headers still
// held 103 goroutines and 7.3 MiB after 6 s). The deadline is the
// stream's own, set when the answer starts, so that a handler may still
// wait (for a seal) before it answers. With lift, the server's
// WriteTimeout (set only for the answers Go writes without a Handler) is
// lifted from the Handler's: over HTTP/1 it has none, as before, and over
// HTTP/2 its own from the first byte.
func answerDeadline(h http.Handler, d time.Duration, lift bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lift {
			http.NewResponseController(w).SetWriteDeadline(time.Time{})
		}
		if r.ProtoMajor != 2 {
			h.ServeHTTP(w, r)
			return
		}
		dw := &deadlineWriter{ResponseWriter: w, d: d}
		if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			dw.d = MaxProfile + d // a trace is written as it is taken
		}
		h.ServeHTTP(dw, r)
	})
}

// deadlineWriter sets its stream's write deadline at the answer's first
// byte (or header).
type deadlineWriter struct {
	http.ResponseWriter
	d       time.Duration
	started bool
}

func (w *deadlineWriter) start() {
	if !w.started {
		w.started = true
		http.NewResponseController(w.ResponseWriter).SetWriteDeadline(time.Now().Add(w.d))
	}
}

func (w *deadlineWriter) WriteHeader(code int) {
	if code >= 200 { // not an informational answer (100 Continue)
		w.start()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	w.start()
	return w.ResponseWriter.Write(b)
}

// Flush starts the answer too: a flushed header is its start.
func (w *deadlineWriter) Flush() {
	w.start()
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the stream's own writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// progressListener's connections end a write that makes no progress for
// d (the answer's time): a client that stops reading its TCP connection
// held it, and its place among MaxConnections, for good, past every
// deadline. Over HTTP/1 answerDeadline lifts the write deadline for the
// Handler (which may wait for a seal), so a caller that pipelined
// requests and read none blocked the server's write of an answer with no
// deadline at all; over HTTP/2 the stream's deadline only queues a
// RST_STREAM behind the blocked write, which is never sent (an attack,
// 2026-12-01: TestAttack35dAnHTTP1ClientThatNeverReadsHoldsItsPlace,
// TestAttack35dAnHTTP2ClientThatNeverReadsHoldsItsPlace). A slow link
// that keeps reading is not cut: each write that makes progress has d
// anew (as HTTP2Config.WriteByteTimeout, for HTTP/1 and the TLS
// handshake too); a deadline set by the server (WriteTimeout) still
// applies.
type progressListener struct {
	net.Listener
	d time.Duration
}

func (l progressListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &progressConn{Conn: c, d: l.d}, nil
}

type progressConn struct {
	net.Conn
	d     time.Duration
	mu    sync.Mutex
	outer time.Time // the write deadline the server set (zero: none)
	// writing is the deadline of the write in flight (zero: none), which a
	// deadline set meanwhile may bring nearer but never lift: passed on
	// as it was, a zero or later one took the bound from a write blocked
	// on a peer that reads nothing (TestAttack35eADeadlineSetDuringAWriteKeepsItsBound).
	writing time.Time
}

// effective is the write deadline of the connection underneath for t.
func (c *progressConn) effective(t time.Time) time.Time {
	if !c.writing.IsZero() && (t.IsZero() || c.writing.Before(t)) {
		return c.writing
	}
	return t
}

func (c *progressConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outer = t
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(c.effective(t))
}

func (c *progressConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outer = t
	return c.Conn.SetWriteDeadline(c.effective(t))
}

func (c *progressConn) Write(p []byte) (n int, err error) {
	defer func() {
		c.mu.Lock()
		c.writing = time.Time{}
		c.mu.Unlock()
	}()
	for {
		c.mu.Lock()
		outer := c.outer
		dl := time.Now().Add(c.d)
		if !outer.IsZero() && outer.Before(dl) {
			dl = outer
		}
		c.writing = dl
		c.Conn.SetWriteDeadline(dl)
		c.mu.Unlock()
		m, err := c.Conn.Write(p[n:])
		n += m
		c.mu.Lock()
		outer = c.outer
		c.mu.Unlock()
		if n == len(p) || m == 0 || !errors.Is(err, os.ErrDeadlineExceeded) || (!outer.IsZero() && !time.Now().Before(outer)) {
			return n, err
		}
	}
}

// CloseWrite lets net/http half-close a connection it answered with an
// error before closing it (so that the client reads the answer).
func (c *progressConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// connStart is the context key of when a connection was accepted.
type connStart struct{}

// closeWhenOld answers on a connection older than age with Connection:
// close, which ends it after this answer (a GOAWAY over HTTP/2).
func closeWhenOld(h http.Handler, age time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if start, ok := r.Context().Value(connStart{}).(time.Time); ok && time.Since(start) > age {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// MaxHeaderBytes bounds a request's headers (431 beyond; Go's default is
// 1 MiB, read before any token is checked).
const MaxHeaderBytes = 64 << 10

// MaxProfile is the longest CPU profile or trace the profiler takes: Go's
// handlers run for whatever ?seconds asks (a day's trace was taken).
const MaxProfile = 2 * time.Minute

func bounded(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if sec, err := strconv.ParseFloat(r.FormValue("seconds"), 64); err == nil && sec > MaxProfile.Seconds() {
			http.Error(w, fmt.Sprintf("seconds=%s: at most %.0f", r.FormValue("seconds"), MaxProfile.Seconds()), http.StatusBadRequest)
			return
		}
		h(w, r)
	}
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the server's base URL on this machine: https:// when it serves
// TLS; a listener on every address is named by 127.0.0.1.
func (s *Server) URL() string {
	addr := s.Addr()
	if tcp, ok := s.ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	if s.tls {
		return "https://" + addr
	}
	return "http://" + addr
}

// Serve serves until Shutdown; it returns nil after a Shutdown.
func (s *Server) Serve() error {
	serve := s.srv.Serve
	if s.tls {
		serve = func(ln net.Listener) error { return s.srv.ServeTLS(ln, "", "") } // the certificate comes from TLSConfig
	}
	if err := serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits for the requests in
// flight to finish, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
