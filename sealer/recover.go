package sealer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// checkpointed is a signed checkpoint and the batch it names, read from S3.
type checkpointed struct {
	cp      shared.Checkpoint
	obj     *archive.Object
	entries []*shared.Entry
	lines   [][]byte
}

// readCheckpointed reads the checkpoint at key and the batch it names.
func (s *Sealer) readCheckpointed(ctx context.Context, key string) (*checkpointed, error) {
	cp, err := s.readCheckpoint(ctx, key)
	if err != nil {
		return nil, err
	}
	obj, err := s.get(ctx, cp.Object)
	if err != nil {
		return nil, fmt.Errorf("batch of checkpoint seq %d: %w", cp.Seq, err)
	}
	entries, lines, err := parseBatch(obj.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cp.Object, err)
	}
	return &checkpointed{cp: cp, obj: obj, entries: entries, lines: lines}, nil
}

// recoverHead sets the head from S3: the latest signed checkpoint and the
// entry it names. A new chain gets its genesis entry first. It returns the
// checkpoint keys and the latest checkpoint with its batch (nil for a new
// chain), which loadUncommitted goes on from.
func (s *Sealer) recoverHead(ctx context.Context) ([]string, *checkpointed, error) {
	cps, err := s.listCheckpoints(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(cps) == 0 {
		return nil, nil, s.genesis(ctx)
	}
	latest, err := s.readCheckpointed(ctx, cps[len(cps)-1])
	if err != nil {
		return nil, nil, fmt.Errorf("recover head: %w", err)
	}
	cp, entries := latest.cp, latest.entries
	last := entries[len(entries)-1]
	if last.Seq != cp.Seq || last.Hash != cp.Hash || last.Chain != s.cfg.Chain {
		return nil, nil, fmt.Errorf("%w: checkpoint seq %d hash %s does not match the last entry of %s (seq %d hash %s)",
			shared.ErrChainBroken, cp.Seq, cp.Hash, cp.Object, last.Seq, last.Hash)
	}
	h := shared.Head{Chain: s.cfg.Chain, Seq: last.Seq, Hash: last.Hash, Offset: -1}
	for _, e := range entries {
		if e.Source != nil {
			h.Offset = e.Source.Offset
		}
	}
	if h.Offset < 0 && last.Seq > 0 {
		return nil, nil, fmt.Errorf("%w: batch %s has no source offsets", ErrInconsistent, cp.Object)
	}
	s.setHead(h)
	return cps, latest, nil
}

// genesis writes (or adopts) the genesis object and its checkpoint.
func (s *Sealer) genesis(ctx context.Context) error {
	key := shared.GenesisKey(s.cfg.Prefix, s.cfg.Chain)
	obj, err := s.get(ctx, key)
	if errors.Is(err, archive.ErrNotFound) {
		g, gerr := shared.NewGenesis(s.cfg.Chain, s.cfg.Now(), s.signer.Name(), s.cfg.VerifierKey)
		if gerr != nil {
			return gerr
		}
		line, lerr := g.Line()
		if lerr != nil {
			return lerr
		}
		if _, err = s.put(ctx, key, joinLines([][]byte{line})); err != nil && !errors.Is(err, archive.ErrExists) {
			return fmt.Errorf("write genesis: %w", err)
		}
		s.log.Info("genesis written", zap.String("key", key), zap.Stringer("hash", g.Hash))
		obj, err = s.get(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("read genesis: %w", err)
	}
	entries, _, err := parseBatch(obj.Body)
	if err != nil {
		return fmt.Errorf("genesis %s: %w", key, err)
	}
	v := shared.NewVerifier(s.cfg.Chain)
	if len(entries) != 1 {
		return fmt.Errorf("%w: genesis object %s holds %d entries", shared.ErrChainBroken, key, len(entries))
	}
	if err := v.Add(entries[0]); err != nil {
		return fmt.Errorf("genesis %s: %w", key, err)
	}
	if err := s.writeCheckpoint(ctx, entries[0], key); err != nil {
		return err
	}
	s.setHead(v.Head())
	return nil
}

func (s *Sealer) listCheckpoints(ctx context.Context) ([]string, error) {
	var keys []string
	err := s.retry(ctx, "list checkpoints", func(ctx context.Context) error {
		var err error
		keys, err = s.store.Checkpoints(ctx, s.cfg.Chain)
		return err
	})
	return keys, err
}

func (s *Sealer) readCheckpoint(ctx context.Context, key string) (shared.Checkpoint, error) {
	obj, err := s.get(ctx, key)
	if err != nil {
		return shared.Checkpoint{}, err
	}
	cp, err := shared.OpenCheckpoint(obj.Body, s.verifier)
	if err != nil {
		return cp, fmt.Errorf("checkpoint %s: %w", key, err)
	}
	if cp.Chain != s.cfg.Chain {
		return cp, fmt.Errorf("checkpoint %s: %w: chain %q", key, shared.ErrBadCheckpoint, cp.Chain)
	}
	return cp, nil
}

// loadUncommitted fills pending with the sealed entries whose offsets the
// group has not committed (a crash between the S3 write and the Kafka
// transaction), so they are republished, not sealed again. It walks the
// checkpoints cps back from latest, which recoverHead has read already.
func (s *Sealer) loadUncommitted(ctx context.Context, admin *kgo.Client, cps []string, latest *checkpointed) error {
	head := s.Head()
	if head.Offset < 0 {
		return nil
	}
	offsets, err := kadm.NewClient(admin).FetchOffsets(ctx, s.cfg.Group)
	if err != nil {
		return fmt.Errorf("fetch committed offsets of group %s: %w", s.cfg.Group, err)
	}
	committed := int64(0)
	if o, ok := offsets.Lookup(s.cfg.Topic, 0); ok && o.Err == nil && o.At >= 0 {
		committed = o.At
	}
	if committed > head.Offset {
		return nil
	}
	seen := map[string]bool{}
	for i := len(cps) - 1; i >= 0; i-- {
		c := latest
		if i < len(cps)-1 {
			if c, err = s.readCheckpointed(ctx, cps[i]); err != nil {
				return err
			}
		}
		cp, obj, entries, lines := c.cp, c.obj, c.entries, c.lines
		if seen[cp.Object] {
			continue
		}
		seen[cp.Object] = true
		done := entries[0].Source == nil
		for j, e := range entries {
			if e.Source == nil || e.Source.Offset < committed {
				done = true
				continue
			}
			s.mu.Lock()
			s.pending[e.Source.Offset] = newSealedRef(e, &shared.SealedRecord{Object: cp.Object, VersionID: obj.VersionID, Line: j + 1, Entry: lines[j]})
			s.mu.Unlock()
		}
		if done {
			break
		}
	}
	s.log.Info("uncommitted sealed entries will be republished", zap.Int64("committed_offset", committed),
		zap.Int64("head_offset", head.Offset), zap.Int("entries", len(s.pending)))
	return nil
}

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode sealed record: %w", err)
	}
	return b, nil
}
