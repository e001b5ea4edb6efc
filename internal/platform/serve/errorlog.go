package serve

import (
	"errors"
	"log"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// errorLog is a server's http.Server.ErrorLog. A failed TLS handshake (a
// load balancer's TCP probe, a scanner, a client that does not trust the
// certificate) is counted and logged at debug: at info, probes filled the
// log with a line every few seconds. Anything else the server reports (an
// accept error, a handler's panic) is a warning.
type errorLog struct {
	log        *zap.Logger
	handshakes prometheus.Counter // nil: not counted
}

func (e errorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		if e.handshakes != nil {
			e.handshakes.Inc()
		}
		e.log.Debug(msg)
		return len(p), nil
	}
	e.log.Warn(msg)
	return len(p), nil
}

// newErrorLog makes the server's error log, counting failed handshakes in
// reg when it is not nil.
func newErrorLog(l *zap.Logger, reg prometheus.Registerer) (*log.Logger, error) {
	e := errorLog{log: l}
	if reg != nil {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "aegis_http_tls_handshake_errors_total",
			Help: "TLS handshakes that failed (probes, scanners, clients that do not trust the certificate); the errors are logged at debug."})
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				return nil, err
			}
			c = dup.ExistingCollector.(prometheus.Counter)
		}
		e.handshakes = c
	}
	return log.New(e, "", 0), nil
}
