package sealer

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/setting"
	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/shared"
)

// Config configures a Sealer. Zero values take the documented defaults.
type Config struct {
	// Brokers are the Kafka seed brokers (required).
	Brokers []string
	// KafkaOptions are added to every Kafka client the sealer makes: TLS
	// and SASL (internal/platform/kafkaconn builds them). Default none.
	KafkaOptions []kgo.Opt
	// Topic is the single-partition decisions topic. Default
	// topics.Decisions(Chain), "aegis.decisions.<Chain>": a topic of its
	// own, since every record on it becomes an entry of this chain (those
	// of another chain as INVALID entries).
	Topic string
	// SealedTopic receives every sealed entry. Default "sealed".
	SealedTopic string
	// SealedPartitions is used when SealedTopic is created. Default 6.
	SealedPartitions int32
	// Group is the consumer group. Default "aegis-sealer-<Chain>".
	Group string
	// TransactionalID fences zombie sealers. Default "aegis-sealer-<Chain>".
	// Every sealer of a chain shares it, so the one that takes over aborts
	// a dead one's open transaction at once.
	TransactionalID string
	// Identity names this sealer among the chain's sealers: it is the
	// Kafka client id's last part, and a sealer that starts removes a group
	// member with its own identity (the previous run, killed) so the
	// partition is reassigned at once instead of after the session
	// timeout. It must differ between sealers running at the same time.
	// Default: the host name.
	Identity string
	// SessionTimeout is how long the group waits for a sealer that stopped
	// heartbeating before a standby takes over. Default 3s. (Kafka brokers
	// refuse less than group.min.session.timeout.ms, 6s by default: lower
	// it there, or set this to 6s.)
	SessionTimeout time.Duration

	// Chain is the chain id, the environment this sealer seals (required).
	Chain string
	// S3 is the object store client (required).
	S3 S3API
	// Bucket is the Object Lock enabled bucket (required).
	Bucket string
	// Prefix is the key prefix of all objects. Default "audit".
	Prefix string
	// CreateBucket creates a missing bucket with Object Lock (development).
	// Default false: a missing or unlocked bucket stops the sealer.
	CreateBucket bool
	// Retention is how long each object is locked in COMPLIANCE mode.
	// Default 7 years (2557 days).
	Retention time.Duration

	// SignerKey is the checkpoint signing key (golang.org/x/mod/sumdb/note
	// private key text, required). VerifierKey is its public key, or the
	// chain's keyset after a key rotation (docs/FORMAT.md section 7.4;
	// required): the checkpoints the sealer recovers from must verify with
	// it, and it must trust SignerKey.
	SignerKey, VerifierKey string
	// NextSignerKey is a staged checkpoint key (optional): when a
	// key-change request naming its public key is read from the topic
	// (aegis rotate-key), the sealer seals it as a KEY entry that ends its
	// object, signs that object's checkpoint with SignerKey and every later
	// one with NextSignerKey (keys.go). Without it, such requests are
	// sealed as INVALID entries. Default none.
	NextSignerKey string

	// BatchMaxRecords closes a batch at this many entries. Default 1000.
	BatchMaxRecords int
	// BatchMaxBytes closes a batch at this many bytes of JSONL. Default 4 MiB;
	// at most archive.MaxBatchBytes (32 MiB), so that every object reads back.
	BatchMaxBytes int
	// BatchMaxAge closes a batch this long after its first entry. Default 1s.
	BatchMaxAge time.Duration
	// CallTimeout bounds each S3 call. Default 30s.
	CallTimeout time.Duration
	// MaxInFlight is how many batches may be sealed in S3 and not yet
	// committed in Kafka at once (S3 writes of the next batches overlap the
	// transaction of the previous ones). Default 4.
	MaxInFlight int
	// ShutdownTimeout bounds how long shutdown waits to seal and commit
	// what was polled. Default 30s.
	ShutdownTimeout time.Duration
	// TransactionTimeout is the Kafka transaction timeout. A transaction
	// spans only publishing and committing (S3 writes happen before it
	// begins), and a successor sealer waits up to this long for a crashed
	// one's open transaction to be aborted. Default 10s.
	TransactionTimeout time.Duration

	// Metrics, if set, receives the sealer's Prometheus metrics
	// (aegis_sealer_*). Default nil: not registered.
	Metrics prometheus.Registerer
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// S3Settings names, for people, the settings that decide S3 (the
	// command's endpoint flag and credentials); the S3 retries log it, so
	// that a wrong endpoint retried without end says what to check.
	S3Settings string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

const defaultRetention = 2557 * 24 * time.Hour

// MinRetention is the shortest retention the sealer takes: a lock of
// seconds (a typo of a Go duration, "1s") would let anyone delete sealed
// objects, which the trial found accepted without a word.
const MinRetention = 24 * time.Hour

// MinSessionTimeout is the shortest group session timeout the Kafka
// client takes (franz-go refuses less when it makes a group's client).
const MinSessionTimeout = 100 * time.Millisecond

// Check reports every problem of the Config's values, all at once, each a
// *setting.Error naming its field (a front end renames them after its own
// settings): what New checks, but the clients (Brokers, S3), so that a
// front end can check its settings before it connects.
func (c *Config) Check() error {
	_, err := c.check()
	return err
}

func (c *Config) check() (*keyState, error) {
	var errs []error
	if !shared.ValidIdentifier(c.Chain) {
		errs = append(errs, setting.Errorf("Chain", "%q is not 1 to 128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit", c.Chain))
	}
	if c.Bucket == "" {
		errs = append(errs, setting.Errorf("Bucket", "is required"))
	}
	keys, err := newKeyState(c.SignerKey, c.NextSignerKey, c.VerifierKey)
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range []struct {
		field string
		v     int64
	}{{"BatchMaxRecords", int64(c.BatchMaxRecords)}, {"BatchMaxBytes", int64(c.BatchMaxBytes)}, {"BatchMaxAge", int64(c.BatchMaxAge)}, {"Retention", int64(c.Retention)}} {
		if n.v < 0 {
			errs = append(errs, setting.Errorf(n.field, "must not be negative"))
		}
	}
	if c.Retention > 0 && c.Retention < MinRetention {
		errs = append(errs, setting.Errorf("Retention", "%s is under %s: sealed objects could be deleted that soon (COMPLIANCE locks end with their retention)", c.Retention, MinRetention))
	}
	if c.SessionTimeout > 0 && c.SessionTimeout < MinSessionTimeout {
		// Refused by the client at every session: before, the sealer
		// started its session over for good, never sealing, never exiting.
		errs = append(errs, setting.Errorf("SessionTimeout", "%s is under %s, the least the Kafka client takes (and the brokers take at least their group.min.session.timeout.ms, 6s by default)",
			c.SessionTimeout, MinSessionTimeout))
	}
	if c.BatchMaxBytes > archive.MaxBatchBytes {
		errs = append(errs, setting.Errorf("BatchMaxBytes", "%d is over %d: verifiers refuse objects over %d bytes", c.BatchMaxBytes,
			archive.MaxBatchBytes, archive.DefaultMaxObjectBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sealer config: %w", err)
	}
	return keys, nil
}

func (c *Config) validate() (*keyState, error) {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, setting.Errorf("Brokers", "is required"))
	}
	if c.S3 == nil {
		errs = append(errs, setting.Errorf("S3", "is required"))
	}
	keys, err := c.check()
	if err := errors.Join(append(errs, setting.Problems(err)...)...); err != nil {
		return nil, fmt.Errorf("sealer config: %w", err)
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Topic, topics.Decisions(c.Chain))
	def(&c.SealedTopic, "sealed")
	def(&c.Group, "aegis-sealer-"+c.Chain)
	def(&c.TransactionalID, "aegis-sealer-"+c.Chain)
	def(&c.Prefix, "audit")
	if c.SealedPartitions == 0 {
		c.SealedPartitions = 6
	}
	if c.Retention == 0 {
		c.Retention = defaultRetention
	}
	if c.BatchMaxRecords == 0 {
		c.BatchMaxRecords = 1000
	}
	if c.BatchMaxBytes == 0 {
		c.BatchMaxBytes = 4 << 20
	}
	if c.BatchMaxAge == 0 {
		c.BatchMaxAge = time.Second
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = 10 * time.Second
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.Identity == "" {
		c.Identity, _ = os.Hostname()
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 3 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 4
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return keys, nil
}
