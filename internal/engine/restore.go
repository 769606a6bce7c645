package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/signals"
)

// restore loads the last checkpoint from RISK_STATE: the customer records
// and profiles it stands on, and the sequence of RISK_SIGNALS it covers.
// Chunks are decoded on every CPU while the next ones are read.
func (e *Engine) restore(ctx context.Context) error {
	start := time.Now()
	st, err := readCommitted(ctx, e.js, true)
	if errors.Is(err, errNoCommit) {
		return e.restoreLegacy(ctx)
	}
	if err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	e.install(st.cp, st.customers, st.profiles)
	e.stateLog = logState{base: st.cp.Base, imageBytes: st.cp.ImageBytes, deltaBytes: st.cp.DeltaBytes}
	e.log.Info("state restored", zap.Int("customers", len(e.customers)), zap.Int("profiles", len(e.profiles)),
		zap.Uint64("seq", st.cp.Seq), zap.Int64("bytes", st.bytes), zap.Duration("took", time.Since(start)))
	if st.bytes >= freeAfterRestore {
		// The chunks read are garbage now, as large as the state itself;
		// the runtime would keep their pages for good (they are under
		// its heap goal). Hand them back once, beside the intake.
		go debug.FreeOSMemory()
	}
	return nil
}

// freeAfterRestore is the size of a restore after which its garbage is
// returned to the operating system at once.
const freeAfterRestore = 64 << 20

// install makes a restored state the engine's. Records come in log
// order: a later record of a customer or profile replaces an earlier one.
// Queries may already be running (the HTTP API starts with the engine),
// so the state is built aside and swapped in under the lock.
func (e *Engine) install(cp checkpointRecord, customers []*customer, profiles []*signals.Profile) {
	byID := make(map[string]*customer, len(customers))
	for _, c := range customers {
		byID[c.Score.Customer] = c
	}
	index := map[string]string{}
	for id, c := range byID {
		if c.Alert.LastID != "" {
			index[c.Alert.LastID] = id
		}
	}
	profByID := make(map[string]*signals.Profile, len(profiles))
	for _, p := range profiles {
		if c, ok := byID[p.ID]; ok {
			p.ID = c.Score.Customer // one copy of the id
		}
		profByID[p.ID] = p
	}
	e.mu.Lock()
	e.customers, e.profiles, e.alertIndex = byID, profByID, index
	e.applied, e.durable = cp.Seq, cp.Seq
	e.watermark, e.lastSweep, e.lastDigest = cp.Watermark, cp.LastSweep, cp.Digest
	e.mu.Unlock()
}

// restoreLegacy loads a checkpoint that an earlier version kept in the KV
// bucket risk_state (a record per customer, the checkpoint record under
// meta.checkpoint) with the profiles of risk_customers, if there is one.
// The next checkpoint writes it to RISK_STATE as an image.
func (e *Engine) restoreLegacy(ctx context.Context) error {
	start := time.Now()
	kv, err := e.js.KeyValue(ctx, StateBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil // a first start
	} else if err != nil {
		return fmt.Errorf("restore state: bucket %s: %w", StateBucket, err)
	}
	var cp checkpointRecord
	if entry, err := kv.Get(ctx, checkpointKey); err == nil {
		if err := json.Unmarshal(entry.Value(), &cp); err != nil {
			return fmt.Errorf("checkpoint record is corrupt: %w", err)
		}
	} else if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	} else {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg                 sync.WaitGroup
		customers          []*customer
		profiles           []*signals.Profile
		errState, errProfs error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		customers, errState = e.readCustomers(ctx)
		if errState != nil {
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		profiles, errProfs = e.readProfiles(ctx, cp.Seq)
		if errProfs != nil {
			cancel()
		}
	}()
	wg.Wait()
	// The first failure cancels the other read: report the cause, not
	// the cancellation it led to.
	switch {
	case errState != nil && !errors.Is(errState, context.Canceled):
		return fmt.Errorf("restore state: %w", errState)
	case errProfs != nil && !errors.Is(errProfs, context.Canceled):
		return fmt.Errorf("restore profiles: %w", errProfs)
	case errState != nil:
		return fmt.Errorf("restore state: %w", errState)
	case errProfs != nil:
		return fmt.Errorf("restore profiles: %w", errProfs)
	}
	e.install(cp, customers, profiles)
	e.log.Info("state restored from the "+StateBucket+" bucket of an earlier version",
		zap.Int("customers", len(e.customers)), zap.Int("profiles", len(e.profiles)),
		zap.Uint64("seq", cp.Seq), zap.Duration("took", time.Since(start)))
	return nil
}

// readCustomers reads and decodes every customer record.
func (e *Engine) readCustomers(ctx context.Context) ([]*customer, error) {
	return decodeAll(ctx, func(ctx context.Context, out chan<- []keyed) error {
		return e.readStream(ctx, "KV_"+StateBucket, "$KV."+StateBucket+"."+customerKey+">",
			jetstream.DeliverLastPerSubjectPolicy, batched(ctx, out, func(m jetstream.Msg) (keyed, bool) {
				if op := m.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
					return keyed{}, false
				}
				return keyed{key: m.Subject(), data: m.Data()}, true
			}))
	}, func(k keyed) (*customer, error) {
		c := new(customer)
		if err := decodeRecord(k.data, &c.Score, &c.Alert); err != nil {
			return nil, fmt.Errorf("%s: customer record: %w", k.key, err)
		}
		return c, nil
	})
}

// profileHistory revisions are kept per profile so that restore can pick
// the newest one a complete checkpoint covers.
const profileHistory = 5

// readProfiles reads, for each profile, the newest revision written at or
// before checkpoint sequence upTo, and decodes them.
func (e *Engine) readProfiles(ctx context.Context, upTo uint64) ([]*signals.Profile, error) {
	// Which revision wins is only known at the end of the stream, so the
	// choice is made first and the winners decoded after.
	latest := map[string][]byte{}
	err := e.readStream(ctx, "KV_"+ProfilesBucket, "$KV."+ProfilesBucket+".>", jetstream.DeliverAllPolicy, func(m jetstream.Msg) error {
		if m == nil {
			return nil
		}
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
		return nil, err
	}
	return decodeAll(ctx, func(ctx context.Context, out chan<- []keyed) error {
		chunk := make([]keyed, 0, legacyChunk)
		for subj, data := range latest {
			if chunk = append(chunk, keyed{key: subj, data: data}); len(chunk) == legacyChunk {
				if err := send(ctx, out, chunk); err != nil {
					return err
				}
				chunk = make([]keyed, 0, legacyChunk)
			}
		}
		return send(ctx, out, chunk)
	}, func(k keyed) (*signals.Profile, error) {
		p, err := signals.DecodeProfile("", k.data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.key, err)
		}
		return &p, nil
	})
}

// keyed is one bucket value to decode, with its subject for errors.
type keyed struct {
	key  string
	data []byte
}

// legacyChunk is how many values travel to a decoder at once: enough to
// make the hand-over cheap next to decoding them.
const legacyChunk = 512

// decodeAll runs produce, which sends chunks of values on its channel, and
// decodes them on every CPU meanwhile. The first error stops both.
func decodeAll[T any](ctx context.Context, produce func(context.Context, chan<- []keyed) error, decode func(keyed) (T, error)) ([]T, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := runtime.GOMAXPROCS(0)
	in := make(chan []keyed, 2*workers)
	results := make([][]T, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range in {
				if errs[w] != nil {
					continue // drain, so the producer never blocks on a dead worker
				}
				for _, k := range chunk {
					v, err := decode(k)
					if err != nil {
						errs[w] = err
						cancel()
						break
					}
					results[w] = append(results[w], v)
				}
			}
		}()
	}
	errProduce := produce(ctx, in)
	close(in)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if errProduce != nil {
		return nil, errProduce
	}
	n := 0
	for _, r := range results {
		n += len(r)
	}
	all := make([]T, 0, n)
	for _, r := range results {
		all = append(all, r...)
	}
	return all, nil
}

// batched turns a per-message callback into one that sends what pick keeps
// in chunks of legacyChunk, the last chunk when the stream ends.
func batched(ctx context.Context, out chan<- []keyed, pick func(jetstream.Msg) (keyed, bool)) func(jetstream.Msg) error {
	chunk := make([]keyed, 0, legacyChunk)
	return func(m jetstream.Msg) error {
		if m == nil {
			return send(ctx, out, chunk)
		}
		if k, ok := pick(m); ok {
			chunk = append(chunk, k)
		}
		if len(chunk) == legacyChunk {
			err := send(ctx, out, chunk)
			chunk = make([]keyed, 0, legacyChunk)
			return err
		}
		return nil
	}
}

func send(ctx context.Context, out chan<- []keyed, chunk []keyed) error {
	if len(chunk) == 0 {
		return nil
	}
	select {
	case out <- chunk:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readStream reads a stream to its end with an ordered consumer, which is
// much faster than one Get per key, and calls fn with each message, then
// once with nil.
func (e *Engine) readStream(ctx context.Context, stream, filter string, policy jetstream.DeliverPolicy, fn func(jetstream.Msg) error) error {
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	if s.CachedInfo().State.Msgs == 0 {
		return fn(nil)
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: policy})
	if err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
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
				return fn(nil)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if got == 0 || pending == 0 {
			return fn(nil)
		}
	}
}
