package sealer

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// A sealer that wrote its genesis and did not get to sign it (killed, or
// S3 unreachable past a call's retries: the session starts over) reads
// the genesis again at the next start. It read the key's current version:
// a bucket writer's genesis put over the sealer's (any time they like,
// locked COMPLIANCE for the retention, as genesisLocked asks) was signed
// as seq 0, where the sealer's own lay underneath, and every entry after
// it chained onto the writer's bytes; once the first key is retired, its
// checkpoint counts only over the key's first version (FORMAT.md 7.4),
// and the chain no longer verifies from its start. A delete marker over
// the sealer's genesis failed every start ("not found") for as long as
// it stood. The key's first version of one PUT counts, as for a batch or
// checkpoint key (putFirst).
func TestAGenesisWrittenOverBeforeItsCheckpointIsNotSigned(t *testing.T) {
	for _, over := range []string{"a bucket writer's genesis", "a delete marker"} {
		t.Run(over, func(t *testing.T) {
			store := s3mem.New("audit")
			skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-unit")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			cfg := Config{Brokers: []string{"unused:9092"}, Chain: "unit", S3: store, Bucket: "audit",
				SignerKey: skey, VerifierKey: vkey, Now: func() time.Time { return now }, Topic: "decisions"}
			s, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The first start writes the genesis; its checkpoint is not written.
			store.Fail = func(op, key string) error {
				if op == "PutObject" && strings.Contains(key, "/checkpoints/") {
					return errors.New("connection reset by peer")
				}
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			if err := s.genesis(ctx); err == nil {
				t.Fatal("the genesis was signed with its checkpoint's PUT failing")
			}
			cancel()
			store.Fail = nil
			key := shared.GenesisKey("audit", "unit")
			vs := store.Versions("audit", key)
			if len(vs) != 1 {
				t.Fatalf("%d versions at the genesis key, want the sealer's one", len(vs))
			}
			sealers, _, err := shared.ParseObject(key, 0, vs[0].Body)
			if err != nil {
				t.Fatal(err)
			}
			switch over {
			case "a bucket writer's genesis":
				first := s.keys.keyset().First()
				g, err := shared.NewGenesis("unit", now.Add(-365*24*time.Hour), first.Name, first.Text)
				if err != nil {
					t.Fatal(err)
				}
				line, _ := g.Line()
				store.PutVersion("audit", key, append(line, '\n'))
				theirs := store.Versions("audit", key)[1]
				store.ExtendRetention("audit", key, theirs.ID, time.Now().Add(defaultRetention+time.Hour))
			case "a delete marker":
				store.Delete("audit", key)
			}
			restarted, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := restarted.genesis(context.Background()); err != nil {
				t.Fatalf("the start after %s over the sealer's unsigned genesis: %v", over, err)
			}
			if got, want := restarted.Head().Hash, sealers[0].Hash; got != want {
				t.Fatalf("the start after %s over the sealer's unsigned genesis signed genesis %s, want the sealer's %s (the key's first version)", over, got, want)
			}
			cp, err := restarted.readCheckpoint(context.Background(), shared.CheckpointKey("audit", "unit", 0))
			if err != nil || cp.Hash != sealers[0].Hash {
				t.Fatalf("checkpoint 0: %v (err %v), want it to sign the sealer's genesis %s", cp.Hash, err, sealers[0].Hash)
			}
		})
	}
}
