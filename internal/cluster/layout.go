// Package cluster runs riskd as one of a group on the same NATS: the
// input is split into a fixed number of partitions by customer (NATS
// files each message under its partition), and each partition is applied
// by exactly one riskd at a time, the holder of its lease in a NATS KV
// bucket. When a riskd stops or dies its partitions pass to the others;
// when one joins, they are spread again. riskd instances never talk to
// each other except through NATS: leases and membership are KV entries,
// and a query for a customer another riskd owns is a NATS request to the
// partition's subject, answered by whoever owns it.
//
// With one partition (the default of the embedded NATS) the group is a
// single riskd, and any other one started on the same NATS waits as a
// standby. docs/scaling.md has the design and its guarantees.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/signals"
)

// DefaultPartitions is the number of partitions a group on an external
// NATS is created with: enough to spread over a dozen riskd, few enough
// that each one's checkpoint stays large.
const DefaultPartitions = 16

// MaxPartitions bounds --partitions: every partition is a consumer, a
// state log and, with each owner, an engine.
const MaxPartitions = 256

// PartitionOf is the partition of customer among n: the FNV-1a hash of
// its subject token modulo n, the function NATS applies with
// {{partition(n,k)}} in RISK_PARTITIONS' subject transforms (a test holds
// the two to the same answer).
func PartitionOf(customer string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(signals.SubjectToken(customer)))
	return int(h.Sum32() % uint32(n))
}

const layoutKey = "partitions"

// ErrLayout marks a --partitions that no retry mends: out of range, or
// not the number the group was created with.
var ErrLayout = errors.New("partitions")

// Layout settles the number of partitions: the one the group was created
// with, or want (which must then be between 1 and MaxPartitions) when
// there is none yet. want 0 takes what there is, or def on a first start.
// A riskd that already wrote unpartitioned checkpoints keeps one
// partition unless told otherwise: its state would not be found under
// partitions.
func Layout(ctx context.Context, js jetstream.JetStream, want, def, replicas int) (int, error) {
	if want < 0 || want > MaxPartitions {
		return 0, fmt.Errorf("%w: --partitions %d: want 1 to %d", ErrLayout, want, MaxPartitions)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: api.ClusterBucket,
		Description: "Riskwatch group layout: the number of partitions, fixed at creation", Storage: jetstream.FileStorage,
		Replicas: replicas})
	if err != nil {
		return 0, fmt.Errorf("create bucket %s: %w", api.ClusterBucket, err)
	}
	e, err := kv.Get(ctx, layoutKey)
	switch {
	case err == nil:
		n, perr := strconv.Atoi(string(e.Value()))
		if perr != nil || n < 1 || n > MaxPartitions {
			return 0, fmt.Errorf("bucket %s: key %s holds %q, not a number of partitions", api.ClusterBucket, layoutKey, e.Value())
		}
		if want != 0 && want != n {
			return 0, fmt.Errorf("%w: --partitions %d: this group was created with %d partitions, and the number is fixed "+
				"(customers are filed by a hash modulo it); leave --partitions out to join it", ErrLayout, want, n)
		}
		return n, nil
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return 0, fmt.Errorf("read the layout: %w", err)
	}
	n := want
	if n == 0 {
		n = def
		if n > 1 && legacyState(ctx, js) {
			n = 1
		}
	}
	if n < 1 {
		n = 1
	}
	if _, err := kv.Create(ctx, layoutKey, []byte(strconv.Itoa(n))); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return Layout(ctx, js, want, def, replicas) // another riskd was first
		}
		return 0, fmt.Errorf("write the layout: %w", err)
	}
	return n, nil
}

// Join settles the layout (Layout: want, or def on a first start) and
// prepares this riskd's node of the group (NewNode, its Partitions set
// from the layout), retrying until ctx ends: a NATS cluster that has just
// started times JetStream requests out until its meta leader settles, and
// riskd started together race to create the same buckets. A wrong
// --partitions (ErrLayout) is not retried.
func Join(ctx context.Context, nc *nats.Conn, want, def int, cfg Config) (*Node, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cfg.Partitions, err = Layout(actx, js, want, def, cfg.Replicas)
		var n *Node
		if err == nil {
			n, err = NewNode(actx, nc, cfg)
		}
		cancel()
		if err == nil || errors.Is(err, ErrLayout) {
			return n, err
		}
		log.Warn("joining the group failed; retrying", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("join the group: %w (last: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// legacyState reports whether RISK_STATE holds an unpartitioned
// checkpoint.
func legacyState(ctx context.Context, js jetstream.JetStream) bool {
	s, err := js.Stream(ctx, api.StateStream)
	if err != nil {
		return false
	}
	_, err = s.GetLastMsgForSubject(ctx, api.StateCommitSubject)
	return err == nil
}

// Drained reports whether a group has applied and checkpointed all of its
// input: NATS has filed all of RISK_SIGNALS into RISK_PARTITIONS, and
// every partition's consumer has delivered all of its messages and had
// them acknowledged (riskd acknowledges once a checkpoint holds them).
// With one partition, the consumer riskd of RISK_SIGNALS.
// Tests and riskbench wait for it.
func Drained(ctx context.Context, js jetstream.JetStream, partitions int) (bool, error) {
	if partitions > 1 {
		copied, err := allCopied(ctx, js)
		if err != nil || !copied {
			return false, err
		}
	}
	for p := range max(partitions, 1) {
		stream, name := engine.Partition{Index: p, Count: partitions}.Consumer()
		c, err := js.Consumer(ctx, stream, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return false, err
		}
		if ci.NumPending > 0 || ci.NumAckPending > 0 {
			return false, nil
		}
	}
	return true, nil
}

// allCopied reports whether NATS has filed all of RISK_SIGNALS into
// RISK_PARTITIONS.
func allCopied(ctx context.Context, js jetstream.JetStream) (bool, error) {
	s, err := js.Stream(ctx, api.PartitionsStream)
	if err != nil {
		return false, err
	}
	info := s.CachedInfo()
	if len(info.Sources) == 0 || info.Sources[0].Lag > 0 {
		return false, nil
	}
	// The source's lag reads 0 for a while after a NATS node dies, until
	// the copy resumes: count too. Everything of RISK_SIGNALS is copied
	// (a group publishes nothing else there), and RISK_PARTITIONS holds
	// that and what riskd publishes to it directly.
	sig, err := js.Stream(ctx, api.SignalsStream)
	if err != nil {
		return false, err
	}
	return sig.CachedInfo().State.Msgs <= info.State.Msgs, nil
}
