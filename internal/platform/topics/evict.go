package topics

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EvictClient removes from group every member whose Kafka client id is
// clientID and returns how many it removed, also when it returns an error
// for another member (one gone since the describe is neither counted nor
// an error). A process that restarts after SIGKILL calls it before it
// joins, with the client id of its previous run: the dead member would
// otherwise stay until its session times out, and a rebalance (the
// restarted process joining) waits for it. A live member with that client
// id is removed too: it rejoins as a new member, so two processes must
// never share one.
func EvictClient(ctx context.Context, admin *kgo.Client, group, clientID string) (int, error) {
	described, err := kadm.NewClient(admin).DescribeGroups(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, err)
	}
	g, ok := described[group]
	if !ok || errors.Is(g.Err, kerr.GroupIDNotFound) {
		return 0, nil
	}
	if g.Err != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, g.Err)
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	for _, m := range g.Members {
		if m.ClientID == clientID {
			lm := kmsg.NewLeaveGroupRequestMember()
			lm.MemberID = m.MemberID
			req.Members = append(req.Members, lm)
		}
	}
	if len(req.Members) == 0 {
		return 0, nil
	}
	resp, err := req.RequestWith(ctx, admin)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return 0, fmt.Errorf("remove %d members of group %s with client id %s: %w", len(req.Members), group, clientID, err)
	}
	// A member the coordinator no longer knows left or expired since the
	// describe: there is nothing left to remove. Count what was removed
	// even when another member failed, so the caller can say both.
	removed := 0
	var errs []error
	for _, m := range resp.Members {
		switch err := kerr.ErrorForCode(m.ErrorCode); {
		case err == nil:
			removed++
		case errors.Is(err, kerr.UnknownMemberID):
		default:
			errs = append(errs, fmt.Errorf("member %s: %w", m.MemberID, err))
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("remove members of group %s with client id %s: %w", group, clientID, errors.Join(errs...))
	}
	return removed, nil
}
