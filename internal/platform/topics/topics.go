// Package topics creates the pipeline's Kafka topics when they are missing,
// checks the partition counts the invariants rely on, and removes the group
// member a killed process left behind (EvictClient).
package topics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Ensure creates topic with partitions if it does not exist and returns its
// actual partition count. A principal without Create on the topic (the
// ACLs of docs/SECURITY.md section 3 grant none) is answered
// TOPIC_AUTHORIZATION_FAILED even for a topic that exists: such a topic
// is taken as it is, and only a missing one is an error.
func Ensure(ctx context.Context, cl *kgo.Client, topic string, partitions int32) (int, error) {
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil || errors.Is(err, kerr.TopicAlreadyExists):
	case errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed):
		details, lerr := adm.ListTopics(ctx, topic)
		if lerr != nil {
			return 0, fmt.Errorf("create topic %s: %w; describe it: %w", topic, err, lerr)
		}
		if d, ok := details[topic]; ok && d.Err == nil && len(d.Partitions) > 0 {
			return len(d.Partitions), nil
		}
		return 0, fmt.Errorf("create topic %s, which is missing or cannot be described (create it beforehand, or grant Describe on it): %w", topic, err)
	default:
		return 0, fmt.Errorf("create topic %s: %w", topic, err)
	}
	// A topic created a moment ago (here or by another service) can take a
	// few metadata rounds to be described.
	for attempt := 0; ; attempt++ {
		details, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return 0, fmt.Errorf("describe topic %s: %w", topic, err)
		}
		d, ok := details[topic]
		if ok && d.Err == nil && len(d.Partitions) > 0 {
			return len(d.Partitions), nil
		}
		if attempt == 50 {
			return 0, fmt.Errorf("describe topic %s: %v", topic, d.Err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ErrNotSingle means a topic that must have one partition has more.
var ErrNotSingle = errors.New("the audit chain needs exactly one partition for a total order")

// EnsureSingle is Ensure for a topic whose total order the chain relies on:
// it must have exactly one partition.
func EnsureSingle(ctx context.Context, cl *kgo.Client, topic string) error {
	n, err := Ensure(ctx, cl, topic, 1)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("topic %s has %d partitions: %w", topic, n, ErrNotSingle)
	}
	return nil
}
