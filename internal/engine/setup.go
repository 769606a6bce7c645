package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/internal/statelog"
)

// dedupWindow is how long JetStream remembers message ids: alerts and
// digests re-sent after a crash within it are dropped as duplicates.
const dedupWindow = 2 * time.Hour

// start sets up the streams, unless whoever started the engine did
// (Config.StreamsReady), and restores the last checkpoint.
func (e *Engine) start(ctx context.Context) error {
	if !e.cfg.StreamsReady {
		if err := Setup(ctx, e.js, e.cfg); err != nil {
			return err
		}
	}
	if err := e.restore(ctx); err != nil {
		return err
	}
	if e.cfg.Partition.partitioned() {
		// The stream's last sequence may be another partition's: ready
		// once a fetch finds nothing more (Handle).
		e.mu.Lock()
		e.progress.readyAt = math.MaxUint64
		e.mu.Unlock()
		return nil
	}
	info, err := e.js.Stream(ctx, api.SignalsStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", api.SignalsStream, err)
	}
	e.mu.Lock()
	e.progress.readyAt = info.CachedInfo().State.LastSeq
	e.progress.ready = e.progress.applied >= e.progress.readyAt
	e.mu.Unlock()
	return nil
}

// Setup creates or updates the streams and the profiles bucket of cfg:
// those of one riskd, and RISK_PARTITIONS when cfg's partition is one of
// several. A group's node runs it once for all its partitions' engines:
// sixteen engines updating five R3 streams at once overload the cluster's
// meta leader.
func Setup(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	cfg.defaults()
	streams := []jetstream.StreamConfig{
		{Name: api.SignalsStream, Subjects: []string{"risk.signals.>", "risk.customers.>", "risk.actions.>", book.ClockSubject},
			Description: "Riskwatch input: signals, customer profiles, acks and snoozes and the wall clock's ticks, in one order",
			Storage:     jetstream.FileStorage, Replicas: cfg.Replicas, MaxAge: cfg.SignalsMaxAge,
			Duplicates: dedupWindow, MaxMsgSize: 1 << 20},
		{Name: api.AlertsStream, Subjects: []string{alerting.SubjectPrefix + ">", alerting.DigestPrefix + ">", book.OpsPrefix + ">"},
			Description: "Riskwatch alerts, digests and operators' alerts", Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
			Duplicates: dedupWindow},
		{Name: api.DLQStream, Subjects: []string{api.DLQPrefix + ">"},
			Description: "Riskwatch rejected input with the reason in the Riskwatch-Error header",
			Storage:     jetstream.FileStorage, Replicas: cfg.Replicas, MaxAge: 30 * 24 * time.Hour,
			Duplicates: dedupWindow},
		statelog.StreamConfig(cfg.Replicas),
	}
	if p := cfg.Partition; p.partitioned() {
		streams = append(streams, PartitionsStream(p.Count, cfg.Replicas, cfg.SignalsMaxAge))
	}
	kv := jetstream.KeyValueConfig{Bucket: api.ProfilesBucket,
		Description: "Riskwatch customer profiles", Storage: jetstream.FileStorage, Replicas: cfg.Replicas}
	cfg.Limits.applyLimits(streams)
	for _, sc := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("create or update stream %s: %w", sc.Name, err)
		}
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, kv); err != nil {
		return fmt.Errorf("create bucket %s: %w", api.ProfilesBucket, err)
	}
	return nil
}

// PartitionsStream is RISK_PARTITIONS with count partitions: it sources
// RISK_SIGNALS, and NATS files each message under risk.p.<n>., n the
// FNV-1a hash of the customer's subject token modulo count, by the
// partition() function of subject mappings (nats-server 2.10+). The
// partition's owner publishes its ticks, and the commands and profiles of
// the APIs, straight to it, so that it knows their sequence there.
//
// Signals published without a customer token (risk.signals.<kind>)
// cannot be placed by NATS: they wait under api.RoutePrefix for riskd to
// place them (internal/cluster).
func PartitionsStream(count, replicas int, maxAge time.Duration) jetstream.StreamConfig {
	n := strconv.Itoa(count)
	return jetstream.StreamConfig{Name: api.PartitionsStream,
		Description: "Riskwatch input split into " + n + " partitions by customer (a copy of RISK_SIGNALS made by NATS)",
		Subjects:    []string{api.PartitionPrefix + "*.clock", api.PartitionPrefix + "*.actions.*", api.PartitionPrefix + "*.customers.*"},
		Sources: []*jetstream.StreamSource{{Name: api.SignalsStream, SubjectTransforms: []jetstream.SubjectTransformConfig{
			{Source: "risk.signals.*.*", Destination: api.PartitionPrefix + "{{partition(" + n + ",2)}}.signals.{{wildcard(1)}}.{{wildcard(2)}}"},
			{Source: "risk.customers.*", Destination: api.PartitionPrefix + "{{partition(" + n + ",1)}}.customers.{{wildcard(1)}}"},
			{Source: "risk.actions.*", Destination: api.PartitionPrefix + "{{partition(" + n + ",1)}}.actions.{{wildcard(1)}}"},
			{Source: "risk.signals.*", Destination: api.RoutePrefix + "signals.{{wildcard(1)}}"},
		}}},
		Storage: jetstream.FileStorage, Replicas: replicas, MaxAge: maxAge,
		Duplicates: dedupWindow, MaxMsgSize: 1 << 20,
		Metadata: map[string]string{"riskwatch_partitions": n}}
}

// restore installs the last checkpoint of RISK_STATE: the customer records
// and profiles it stands on, and the sequence of RISK_SIGNALS it covers.
func (e *Engine) restore(ctx context.Context) error {
	start := time.Now()
	r, err := e.state.Restore(ctx)
	if errors.Is(err, statelog.ErrNoCheckpoint) {
		return nil // a first start
	}
	if err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	// Queries may already be running (the HTTP API starts with the
	// engine): the state was built aside and is swapped in under the lock.
	e.mu.Lock()
	e.book.Install(r.Customers, r.Profiles, r.Commit.Clock())
	if r.Commit.Peers != nil {
		e.book.InstallPeers(r.Commit.Peers)
	}
	e.progress.applied, e.progress.durable = r.Commit.Seq, r.Commit.Seq
	customers, profiles := e.book.Len()
	e.mu.Unlock()
	e.cfg.Log.Info("state restored", zap.Int("customers", customers), zap.Int("profiles", profiles),
		zap.Uint64("seq", r.Commit.Seq), zap.Int64("bytes", r.Bytes), zap.Duration("took", time.Since(start)))
	if r.Bytes >= freeAfterRestore {
		// The chunks read are garbage now, as large as the state itself;
		// the runtime would keep their pages for good (they are under its
		// heap goal). Hand them back once, beside the intake.
		go debug.FreeOSMemory()
	}
	return nil
}

// freeAfterRestore is the size of a restore after which its garbage is
// returned to the operating system at once.
const freeAfterRestore = 64 << 20

// reposition deletes the durable consumer and creates it again to start
// right after the last checkpoint. The checkpoint, not the consumer, is
// the truth about what has been applied: after a crash or a dropped
// connection the consumer may have handed out messages that never arrived
// or were never checkpointed, and it would redeliver them only after
// AckWait, behind newer ones. Messages between the checkpoint and what
// this engine already applied in memory are skipped by sequence.
func (e *Engine) reposition(ctx context.Context) (jetstream.Consumer, error) {
	if err := e.js.DeleteConsumer(ctx, e.part.stream, e.part.durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("delete consumer %s: %w", e.part.durable, err)
	}
	cc := jetstream.ConsumerConfig{
		Durable:       e.part.durable,
		FilterSubject: e.part.filter,
		Description:   "riskd scoring",
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       5 * time.Minute,
		MaxDeliver:    -1,
		MaxAckPending: 1 << 20,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// The checkpoint, not the consumer, records what is applied, and
		// every start positions the consumer from it; persisting the
		// consumer's state as well (its pending set is up to a
		// checkpoint's worth of messages) cost the server about 3 µs of
		// CPU per message and bought nothing.
		MemoryStorage: true,
	}
	e.mu.RLock()
	durable := e.progress.durable
	e.mu.RUnlock()
	if durable > 0 {
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = durable + 1
	}
	c, err := e.js.CreateConsumer(ctx, e.part.stream, cc)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", e.part.durable, err)
	}
	return c, nil
}
