package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/signals"
)

// Stream, bucket and subject names: part of the wire contract.
const (
	SignalsStream  = "RISK_SIGNALS"
	AlertsStream   = "RISK_ALERTS"
	DLQStream      = "RISK_DLQ"
	StateBucket    = "risk_state"
	ProfilesBucket = "risk_customers"
	ActionPrefix   = "risk.actions."
	DLQPrefix      = "risk.dlq."
	// ErrorHeader carries the reason a message went to the DLQ;
	// SubjectHeader its original subject.
	ErrorHeader   = "Riskwatch-Error"
	SubjectHeader = "Riskwatch-Subject"
	// TruncatedHeader on a DLQ entry is the size of the original message
	// when only its start fitted under the NATS max payload.
	TruncatedHeader = "Riskwatch-Truncated"
	// SeqHeader on a profile revision is the checkpoint sequence it was
	// written with.
	SeqHeader     = "Riskwatch-Seq"
	checkpointKey = "meta.checkpoint"
	customerKey   = "c."
)

func (e *Engine) setup(ctx context.Context) error {
	streams := []jetstream.StreamConfig{
		{Name: SignalsStream, Subjects: []string{"risk.signals.>", "risk.customers.>", "risk.actions.>"},
			Description: "Riskwatch input: signals, customer profiles, acks and snoozes, in one order",
			Storage:     jetstream.FileStorage, Replicas: e.cfg.Replicas, MaxAge: e.cfg.SignalsMaxAge,
			Duplicates: e.cfg.DedupWindow, MaxMsgSize: 1 << 20},
		{Name: AlertsStream, Subjects: []string{"risk.alerts.>", "risk.digest.>"},
			Description: "Riskwatch alerts and digests", Storage: jetstream.FileStorage, Replicas: e.cfg.Replicas,
			MaxAge: e.cfg.AlertsMaxAge, Duplicates: e.cfg.DedupWindow},
		{Name: DLQStream, Subjects: []string{"risk.dlq.>"},
			Description: "Riskwatch rejected input with the reason in the Riskwatch-Error header",
			Storage:     jetstream.FileStorage, Replicas: e.cfg.Replicas, MaxAge: 30 * 24 * time.Hour,
			Duplicates: e.cfg.DedupWindow},
	}
	for _, sc := range streams {
		if _, err := e.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("create or update stream %s: %w", sc.Name, err)
		}
	}
	var err error
	e.kvState, err = e.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: StateBucket,
		Description: "Riskwatch per-customer state checkpoints", Storage: jetstream.FileStorage,
		Replicas: e.cfg.Replicas, History: 1})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", StateBucket, err)
	}
	e.kvProf, err = e.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ProfilesBucket,
		Description: "Riskwatch customer profiles", Storage: jetstream.FileStorage,
		Replicas: e.cfg.Replicas, History: profileHistory})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", ProfilesBucket, err)
	}
	if err := e.restore(ctx); err != nil {
		return err
	}
	info, err := e.js.Stream(ctx, SignalsStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", SignalsStream, err)
	}
	si := info.CachedInfo()
	e.mu.Lock()
	e.readyAt = si.State.LastSeq
	e.mu.Unlock()
	return nil
}

type checkpointRecord struct {
	Seq       uint64 `json:"seq"`
	Watermark int64  `json:"watermark"`
	LastSweep int64  `json:"last_sweep"`
	Digest    int32  `json:"last_digest"`
	Time      string `json:"time"`
}

// restore loads the last checkpoint: every customer record and profile
// (the latest value per key, read straight from the buckets' streams,
// which is much faster than one Get per key) and the sequence they cover.
func (e *Engine) restore(ctx context.Context) error {
	start := time.Now()
	var cp checkpointRecord
	if entry, err := e.kvState.Get(ctx, checkpointKey); err == nil {
		if err := json.Unmarshal(entry.Value(), &cp); err != nil {
			return fmt.Errorf("checkpoint record is corrupt: %w", err)
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	// Queries may already be running (the HTTP API starts with the
	// engine): build the state aside and swap it in under the lock.
	customers, profiles, index := map[string]*customer{}, map[string]*signals.Profile{}, map[string]string{}
	n := 0
	err := e.readBucket(ctx, "KV_"+StateBucket, "$KV."+StateBucket+"."+customerKey+">", func(data []byte) error {
		var c customer
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("customer record: %w", err)
		}
		if c.Score == nil || c.Score.Customer == "" {
			return errors.New("customer record without a customer")
		}
		c.Score.Restore()
		customers[c.Score.Customer] = &c
		if c.Alert.LastID != "" {
			index[c.Alert.LastID] = c.Score.Customer
		}
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	np := 0
	err = e.readProfiles(ctx, cp.Seq, func(p signals.Profile) {
		profiles[p.ID] = &p
		np++
	})
	if err != nil {
		return fmt.Errorf("restore profiles: %w", err)
	}
	e.mu.Lock()
	e.customers, e.profiles, e.alertIndex = customers, profiles, index
	e.applied, e.durable = cp.Seq, cp.Seq
	e.watermark, e.lastSweep, e.lastDigest = cp.Watermark, cp.LastSweep, cp.Digest
	e.mu.Unlock()
	e.log.Info("state restored", zap.Int("customers", n), zap.Int("profiles", np),
		zap.Uint64("seq", cp.Seq), zap.Duration("took", time.Since(start)))
	return nil
}

// profileHistory revisions are kept per profile so that restore can pick
// the newest one a complete checkpoint covers.
const profileHistory = 5

// readProfiles calls fn with, for each profile, the newest revision written
// at or before checkpoint sequence upTo.
func (e *Engine) readProfiles(ctx context.Context, upTo uint64, fn func(signals.Profile)) error {
	latest := map[string][]byte{}
	err := e.readStream(ctx, "KV_"+ProfilesBucket, "$KV."+ProfilesBucket+".>", jetstream.DeliverAllPolicy, func(m jetstream.Msg) error {
		if seq, err := strconv.ParseUint(m.Headers().Get(SeqHeader), 10, 64); err == nil && seq > upTo {
			return nil
		}
		if op := m.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			delete(latest, m.Subject())
			return nil
		}
		latest[m.Subject()] = m.Data()
		return nil
	})
	if err != nil {
		return err
	}
	for subj, data := range latest {
		p, err := signals.DecodeProfile("", data)
		if err != nil {
			return fmt.Errorf("%s: %w", subj, err)
		}
		fn(p)
	}
	return nil
}

// readBucket calls fn with the latest value of every key under filter.
// Deleted keys are skipped.
func (e *Engine) readBucket(ctx context.Context, stream, filter string, fn func([]byte) error) error {
	return e.readStream(ctx, stream, filter, jetstream.DeliverLastPerSubjectPolicy, func(m jetstream.Msg) error {
		if op := m.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			return nil
		}
		return fn(m.Data())
	})
}

// readStream reads a stream to its end with an ordered consumer, which is
// much faster than one Get per key.
func (e *Engine) readStream(ctx context.Context, stream, filter string, policy jetstream.DeliverPolicy, fn func(jetstream.Msg) error) error {
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	if s.CachedInfo().State.Msgs == 0 {
		return nil
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: policy})
	if err != nil {
		return err
	}
	for {
		// The stream is at rest: what matches is all there already, so
		// the request returns at once instead of waiting out an expiry
		// when nothing (or nothing more) matches the filter.
		batch, err := oc.FetchNoWait(10_000)
		if err != nil {
			return err
		}
		got := 0
		var pending uint64
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			pending = md.NumPending
			if err := fn(m); err != nil {
				return fmt.Errorf("%s: %w", m.Subject(), err)
			}
			if pending == 0 {
				// The end: do not wait for the fetch to expire, which
				// would add its MaxWait to every start.
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if got == 0 || pending == 0 {
			return nil
		}
	}
}

// reposition deletes the durable consumer and creates it again to start
// right after the last checkpoint. The checkpoint, not the consumer, is
// the truth about what has been applied: after a crash or a dropped
// connection the consumer may have handed out messages that never arrived
// or were never checkpointed, and it would redeliver them only after
// AckWait, behind newer ones. Messages between the checkpoint and what
// this engine already applied in memory are skipped by sequence.
func (e *Engine) reposition(ctx context.Context) (jetstream.Consumer, error) {
	if err := e.js.DeleteConsumer(ctx, SignalsStream, e.cfg.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("delete consumer %s: %w", e.cfg.Durable, err)
	}
	cc := jetstream.ConsumerConfig{
		Durable:       e.cfg.Durable,
		Description:   "riskd scoring",
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       5 * time.Minute,
		MaxDeliver:    -1,
		MaxAckPending: 1 << 20,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if len(e.cfg.Filter) > 0 {
		cc.FilterSubjects = e.cfg.Filter
	}
	e.mu.RLock()
	durable := e.durable
	e.mu.RUnlock()
	if durable > 0 {
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = durable + 1
	}
	c, err := e.js.CreateConsumer(ctx, SignalsStream, cc)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", e.cfg.Durable, err)
	}
	e.delivered = 0
	return c, nil
}

func stateKey(customer string) string { return customerKey + signals.SubjectToken(customer) }

func unixString(t int64) string { return strconv.FormatInt(t, 10) }
