package indexer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/kafkaconn"
)

// RecordPartition records that the sealed topic's partition is indexed up
// to offset for chain, whose last entry there has seq. Offsets only rise.
func (x *Index) RecordPartition(ctx context.Context, chain, topic string, partition int32, seq uint64, offset int64) error {
	_, err := x.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(x.Table),
		Key:                       key(layout.PKChain+chain, fmt.Sprintf("%s%s#%d", layout.SKPart, topic, partition)),
		UpdateExpression:          aws.String("SET #seq = :s, #off = :o"),
		ConditionExpression:       aws.String("attribute_not_exists(#off) OR #off < :o"),
		ExpressionAttributeNames:  map[string]string{"#seq": "seq", "#off": "offset"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": num(seq), ":o": &types.AttributeValueMemberN{Value: strconv.FormatInt(offset, 10)}},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("record partition %d of %s: %w", partition, topic, err)
	}
	return nil
}

// PartitionStatus is how far one partition of the sealed topic is indexed.
type PartitionStatus struct {
	Partition int32 `json:"partition"`
	// Seq is the chain's last entry indexed from it; Indexed false when
	// none was.
	Seq     uint64 `json:"seq"`
	Indexed bool   `json:"indexed"`
	// Committed is the indexer group's committed offset; End the
	// partition's end offset.
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
	// CaughtUp: the group has consumed every record (the last offset of a
	// transactional topic is a commit marker no consumer receives).
	CaughtUp bool `json:"caught_up"`
}

// Status is how far the index of a chain is: HighestSeen is the highest
// seq indexed; Contiguous the seq up to which every published entry is
// indexed. A partition's entries are indexed in seq order, so it is one
// below the lowest seq of the records the group has still to read (the
// record at each lagging partition's committed offset), and HighestSeen
// when every partition is caught up.
type Status struct {
	Chain       string            `json:"chain"`
	HighestSeen uint64            `json:"highest_seen"`
	Contiguous  uint64            `json:"contiguous"`
	Partitions  []PartitionStatus `json:"partitions"`
	Group       GroupStatus       `json:"group"`
}

// GroupStatus is the indexer group as Kafka describes it: while its State
// is not Stable the group is rebalancing and none of its partitions is
// indexed; a member killed without an identity holds a rebalance until its
// session times out.
type GroupStatus struct {
	Name    string        `json:"name"`
	State   string        `json:"state"`
	Members []GroupMember `json:"members"`
}

// GroupMember is one member of the indexer group: its Kafka client id
// ("aegis-indexer/<group>/<identity>" for an indexer with an identity), the
// host Kafka saw it connect from, and the sealed topic's partitions it was
// assigned (none while the group rebalances).
type GroupMember struct {
	ClientID   string  `json:"client_id"`
	Host       string  `json:"host"`
	Partitions []int32 `json:"partitions"`
}

// Status reads the chain's high-water marks from the table, the indexer
// group's offsets on the sealed topic, and the next record to index on each
// lagging partition.
func (x *Index) Status(ctx context.Context, brokers []string, topic, group, chain string) (Status, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, x.KafkaOptions...)...)
	if err != nil {
		return Status{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	st := Status{Chain: chain}
	hw, _, err := x.HighWater(ctx, chain)
	if err != nil {
		return st, err
	}
	st.HighestSeen = hw
	out, err := x.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(x.Table),
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(layout.PKChain + chain), ":sk": str(layout.SKPart + topic + "#")},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return st, fmt.Errorf("read partition marks of %s: %w", chain, err)
	}
	marks := map[int32]uint64{}
	for _, it := range out.Items {
		var m struct {
			SK  string `dynamodbav:"SK"`
			Seq uint64 `dynamodbav:"seq"`
		}
		if err := attributevalue.UnmarshalMap(it, &m); err != nil {
			return st, err
		}
		p, err := strconv.Atoi(m.SK[strings.LastIndex(m.SK, "#")+1:])
		if err != nil {
			return st, fmt.Errorf("partition mark %s: %w", m.SK, err)
		}
		marks[int32(p)] = m.Seq
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return st, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return st, fmt.Errorf("offsets of group %s: %w: no indexer has joined it; name the group the indexers run in (aegis index status --group, AEGIS_GROUP)", group, err)
	}
	if err != nil {
		return st, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	if st.Group, err = describeGroup(ctx, adm, group, topic); err != nil {
		return st, err
	}
	st.Contiguous = hw
	lagging := map[int32]kgo.Offset{}
	ends.Each(func(end kadm.ListedOffset) {
		ps := PartitionStatus{Partition: end.Partition, End: end.Offset}
		ps.Seq, ps.Indexed = marks[end.Partition]
		if c, ok := committed.Lookup(topic, end.Partition); ok && c.Err == nil {
			ps.Committed = max(c.At, 0)
		}
		ps.CaughtUp = end.Offset == 0 || ps.Committed >= end.Offset-1
		if !ps.CaughtUp {
			lagging[end.Partition] = kgo.NewOffset().At(ps.Committed)
		}
		st.Partitions = append(st.Partitions, ps)
	})
	if len(lagging) > 0 {
		next, err := nextSeqs(ctx, append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, x.KafkaOptions...), topic, chain, lagging)
		if err != nil {
			return st, err
		}
		for _, ps := range st.Partitions {
			if _, ok := lagging[ps.Partition]; !ok {
				continue
			}
			if n, ok := next[ps.Partition]; ok && n > 0 {
				st.Contiguous = min(st.Contiguous, n-1)
			} else {
				st.Contiguous = min(st.Contiguous, ps.Seq) // cannot read it: the lower bound
			}
		}
	}
	sort.Slice(st.Partitions, func(i, j int) bool { return st.Partitions[i].Partition < st.Partitions[j].Partition })
	return st, nil
}

// describeGroup reads the group's state and members.
func describeGroup(ctx context.Context, adm *kadm.Client, group, topic string) (GroupStatus, error) {
	gs := GroupStatus{Name: group, Members: []GroupMember{}}
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return gs, fmt.Errorf("describe group %s: %w", group, err)
	}
	g, ok := described[group]
	if !ok {
		return gs, fmt.Errorf("describe group %s: not in Kafka's answer", group)
	}
	if g.Err != nil {
		return gs, fmt.Errorf("describe group %s: %w", group, g.Err)
	}
	gs.State = g.State
	for _, m := range g.Members {
		gm := GroupMember{ClientID: m.ClientID, Host: m.ClientHost, Partitions: []int32{}}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				if t.Topic == topic {
					gm.Partitions = append(gm.Partitions, t.Partitions...)
				}
			}
		}
		slices.Sort(gm.Partitions)
		gs.Members = append(gs.Members, gm)
	}
	sort.Slice(gs.Members, func(i, j int) bool {
		a, b := gs.Members[i], gs.Members[j]
		if a.ClientID != b.ClientID {
			return a.ClientID < b.ClientID
		}
		return a.Host < b.Host
	})
	return gs, nil
}

// nextSeqs reads, on each partition, the first record of chain at or after
// the offset given and returns its seq.
func nextSeqs(ctx context.Context, kafka []kgo.Opt, topic, chain string, from map[int32]kgo.Offset) (map[int32]uint64, error) {
	cl, err := kgo.NewClient(slices.Concat(kafka, kafkaconn.BoundedDecompression(0), []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted())})...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out := map[int32]uint64{}
	for len(out) < len(from) && ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		fetches.EachRecord(func(r *kgo.Record) {
			if _, done := out[r.Partition]; done {
				return
			}
			if _, e, err := readSealed(r.Value); err == nil && e.Chain == chain {
				out[r.Partition] = e.Seq
			}
		})
	}
	return out, nil
}
