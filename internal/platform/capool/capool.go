// Package capool reads a PEM bundle of CA certificates, for the TLS
// settings that name one (Kafka's, the services' client CA, aegis health).
package capool

import (
	"crypto/x509"
	"fmt"
	"os"
)

// Load reads the bundle at path; setting names it in errors
// ("--kafka-tls-ca-file (AEGIS_KAFKA_TLS_CA_FILE)").
func Load(setting, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", setting, path)
	}
	return pool, nil
}
