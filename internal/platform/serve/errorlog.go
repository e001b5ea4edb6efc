package serve

import (
	"errors"
	"log"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// errorLog is a server's http.Server.ErrorLog. What a client causes (a
// failed TLS handshake: a load balancer's TCP probe, a scanner, a client
// that does not trust the certificate or whose certificate is refused;
// an HTTP/2 client that breaks the protocol; a malformed request line) is
// counted by kind and logged at debug: anyone who can connect could
// otherwise write a warning a connection (each names its port, so
// sampling never groups them). What the server itself meets (a handler's
// panic, an accept error) is a warning.
type errorLog struct {
	log     *zap.Logger
	clients *prometheus.CounterVec // nil: not counted
}

func (e errorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	if strings.HasPrefix(msg, "http: panic serving") || strings.HasPrefix(msg, "http: Accept error") {
		e.log.Warn(msg)
		return len(p), nil
	}
	kind := "other"
	switch {
	case strings.HasPrefix(msg, "http: TLS handshake error"):
		kind = "tls_handshake"
	case strings.HasPrefix(msg, "http2:"):
		kind = "http2"
	}
	if e.clients != nil {
		e.clients.WithLabelValues(kind).Inc()
	}
	e.log.Debug(msg, zap.String("kind", kind))
	return len(p), nil
}

// newErrorLog makes the server's error log, counting what clients cause
// in reg when it is not nil.
func newErrorLog(l *zap.Logger, reg prometheus.Registerer) (*log.Logger, error) {
	e := errorLog{log: l}
	if reg != nil {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aegis_http_client_errors_total",
			Help: "Connections and requests the HTTP server refused for what the client did: kind tls_handshake (probes, scanners, untrusted or refused certificates), http2, other; logged at debug."},
			[]string{"kind"})
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				return nil, err
			}
			c = dup.ExistingCollector.(*prometheus.CounterVec)
		}
		e.clients = c
	}
	return log.New(e, "", 0), nil
}
