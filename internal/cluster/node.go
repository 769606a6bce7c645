package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/engine"
)

// Config is what a Node needs besides a connection.
type Config struct {
	// Instance names this riskd in the group; unique among its members.
	Instance string
	// Partitions is the group's layout (Layout).
	Partitions int
	Replicas   int
	// LeaseTTL is how long a lease outlives its last renewal, and a
	// member its last sign of life: it bounds how long a dead riskd's
	// partitions wait for a new owner (default DefaultLeaseTTL).
	LeaseTTL time.Duration
	// Engine is the configuration every partition's engine starts from;
	// the node sets its Partition and wraps its Registry with the
	// partition's label.
	Engine engine.Config
	// Inspect, when set, is told of every message a partition's engine
	// applies, with that partition's state locked (engine.Config.Inspect
	// with the partition and its epoch): tests hold the fencing to it.
	Inspect  func(p engine.Partition, subject string)
	Registry prometheus.Registerer
	Log      *zap.Logger
}

// DefaultLeaseTTL: a dead riskd's partitions move within about this, plus
// restoring their checkpoints.
const DefaultLeaseTTL = 6 * time.Second

// Node is one riskd of a group: it keeps its membership alive, takes the
// partitions the assignment gives it, hands over the others, and answers
// for any customer, forwarding to the owner of its partition.
type Node struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	kv      jetstream.KeyValue
	log     *zap.Logger
	metrics *metrics

	mu      sync.RWMutex
	owned   map[int]*owned
	members []string
	// since is when each live member was first seen in its current run of
	// sightings: partitions are handed over only to a member seen for a
	// while, so that a member whose key lapsed for a moment (a stalled
	// process, a slow NATS) does not move partitions back and forth.
	since  map[string]time.Time
	joined bool
	wg     sync.WaitGroup
	// stopErrs are the failures of the partitions' last checkpoints when
	// the node left: Run returns them.
	stopErrs []error
}

// owned is a partition this node holds the lease of.
type owned struct {
	p   int
	eng *engine.Engine
	reg *trackingRegisterer
	sub *nats.Subscription

	mu    sync.Mutex
	rev   uint64    // the lease entry's last revision
	until time.Time // the lease is certainly held before it (monotonic)
	lost  bool

	release chan struct{} // closed to hand the partition over
	done    chan struct{} // closed once it is let go
	once    sync.Once
}

// held reports whether the lease is certainly still this node's: its
// last renewal, or its acquisition, began less than the TTL minus a
// margin ago, so no other riskd can have taken it yet.
func (o *owned) held() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.lost && time.Now().Before(o.until)
}

func (o *owned) handOver() { o.once.Do(func() { close(o.release) }) }

// NewNode prepares a node on nc; Run starts it.
func NewNode(ctx context.Context, nc *nats.Conn, cfg Config) (*Node, error) {
	if cfg.Instance == "" {
		return nil, errors.New("cluster: no instance name")
	}
	if strings.ContainsAny(cfg.Instance, ".*> \t") {
		return nil, fmt.Errorf("cluster: instance name %q: no dots, spaces or wildcards", cfg.Instance)
	}
	if cfg.Partitions < 1 {
		cfg.Partitions = 1
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: api.LeasesBucket,
		Description: "Riskwatch group: members and the owners of partitions, each entry alive for the lease TTL",
		TTL:         cfg.LeaseTTL, Storage: jetstream.FileStorage, Replicas: cfg.Replicas, History: 1})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", api.LeasesBucket, err)
	}
	n := &Node{cfg: cfg, nc: nc, js: js, kv: kv, log: cfg.Log, owned: map[int]*owned{}, since: map[string]time.Time{},
		metrics: newMetrics(cfg.Registry, cfg.Partitions)}
	return n, nil
}

// Partitions is the number of partitions of the group.
func (n *Node) Partitions() int { return n.cfg.Partitions }

// Owned lists the partitions this node holds, in order.
func (n *Node) Owned() []int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var ps []int
	for p := range n.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Engine is the engine of partition p, if this node holds it.
func (n *Node) Engine(p int) *engine.Engine {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if o := n.owned[p]; o != nil {
		return o.eng
	}
	return nil
}

func memberKey(instance string) string { return "m." + instance }
func leaseKey(p int) string            { return "p." + strconv.Itoa(p) }

// Run keeps the node in the group until ctx ends; then it hands its
// partitions over (each engine finishes its chunk and checkpoints, and
// its lease is deleted so that another riskd takes it at once) and
// leaves.
func (n *Node) Run(ctx context.Context) error {
	if err := n.setup(ctx); err != nil {
		return nil // stopped before the streams were there: nothing held
	}
	tick := time.NewTicker(n.cfg.LeaseTTL / 4)
	defer tick.Stop()
	for {
		n.step(ctx)
		select {
		case <-ctx.Done():
			n.leave()
			n.mu.Lock()
			defer n.mu.Unlock()
			return errors.Join(n.stopErrs...)
		case <-tick.C:
		}
	}
}

// setup creates or updates the streams once for all the partitions'
// engines, retrying until it succeeds or ctx ends. On a NATS cluster,
// riskd starting together race to create the same R3 streams, and the
// losers' requests may get no answer at all: a short timeout and another
// try (which finds the stream made) beats waiting.
func (n *Node) setup(ctx context.Context) error {
	cfg := n.cfg.Engine
	cfg.Partition, cfg.Replicas = engine.Partition{Count: n.cfg.Partitions}, n.cfg.Replicas
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := engine.Setup(sctx, n.js, cfg)
		cancel()
		if err == nil {
			n.cfg.Engine.StreamsReady = true
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n.log.Warn("streams not set up; retrying", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// step renews the membership, reads the members and moves partitions
// towards the assignment.
func (n *Node) step(ctx context.Context) {
	n.reap()
	if _, err := n.kv.Put(ctx, memberKey(n.cfg.Instance), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		if ctx.Err() == nil {
			n.log.Warn("membership not renewed", zap.Error(err))
		}
		return
	}
	members, err := n.readMembers(ctx)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("members not read", zap.Error(err))
		}
		return
	}
	now := time.Now()
	n.mu.Lock()
	n.members, n.joined = members, true
	seen := make(map[string]time.Time, len(members))
	for _, m := range members {
		seen[m] = now
		if t, ok := n.since[m]; ok {
			seen[m] = t
		}
	}
	n.since = seen
	n.mu.Unlock()
	n.metrics.members.Set(float64(len(members)))
	for p := range n.cfg.Partitions {
		target := Assign(p, members)
		n.mu.RLock()
		o := n.owned[p]
		n.mu.RUnlock()
		switch {
		case o != nil && target != n.cfg.Instance && now.Sub(seen[target]) >= n.cfg.LeaseTTL/2:
			o.handOver()
		case o == nil && target == n.cfg.Instance:
			n.acquire(ctx, p)
		}
	}
}

// Assign is the member that should own partition p: members (sorted)
// take the partitions in turn, so that each holds its share, within one.
func Assign(p int, members []string) string {
	if len(members) == 0 {
		return ""
	}
	return members[p%len(members)]
}

// readMembers lists the live members, sorted.
func (n *Node) readMembers(ctx context.Context) ([]string, error) {
	lister, err := n.kv.ListKeysFiltered(ctx, "m.*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, err
	}
	var members []string
	for k := range lister.Keys() {
		members = append(members, strings.TrimPrefix(k, "m."))
		if len(members) > 10_000 {
			_ = lister.Stop()
			break
		}
	}
	slices.Sort(members)
	return members, nil
}

// margin is how long before the lease's expiry its holder stops counting
// on it: renewals go out every quarter TTL, so one may fail or be late
// before the partition is given up.
func (n *Node) margin() time.Duration { return n.cfg.LeaseTTL / 4 }

// acquire takes partition p if its lease is free, and starts its engine.
func (n *Node) acquire(ctx context.Context, p int) {
	start := time.Now()
	rev, err := n.kv.Create(ctx, leaseKey(p), []byte(n.cfg.Instance))
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			n.log.Warn("lease not taken", zap.Int("partition", p), zap.Error(err))
		}
		return
	}
	o := &owned{p: p, rev: rev, until: start.Add(n.cfg.LeaseTTL - n.margin()),
		release: make(chan struct{}), done: make(chan struct{})}
	cfg := n.cfg.Engine
	cfg.Partition = engine.Partition{Index: p, Count: n.cfg.Partitions, Epoch: rev, Held: o.held}
	if inspect := n.cfg.Inspect; inspect != nil {
		part := cfg.Partition
		cfg.Inspect = func(subject string, _ []byte) { inspect(part, subject) }
	}
	cfg.Replicas = n.cfg.Replicas
	if m := cfg.Limits.MaxCustomers; m > 0 && n.cfg.Partitions > 1 {
		// The cap is the group's: each partition's book takes its share,
		// with room for the hash's unevenness.
		cfg.Limits.MaxCustomers = m/n.cfg.Partitions + m/n.cfg.Partitions/4 + 1
	}
	o.reg = &trackingRegisterer{r: prometheus.WrapRegistererWith(prometheus.Labels{"partition": strconv.Itoa(p)}, n.cfg.Registry)}
	cfg.Registry = o.reg
	if cfg.Log != nil {
		cfg.Log = cfg.Log.With(zap.Int("partition", p))
	}
	eng, err := engine.New(n.nc, cfg)
	if err != nil {
		n.log.Error("partition engine not created", zap.Int("partition", p), zap.Error(err))
		o.reg.unregisterAll()
		n.deleteLease(p, rev)
		return
	}
	o.eng = eng
	if o.sub, err = n.serve(p, eng); err != nil {
		n.log.Error("partition API not served", zap.Int("partition", p), zap.Error(err))
		o.reg.unregisterAll()
		n.deleteLease(p, rev)
		return
	}
	n.mu.Lock()
	n.owned[p] = o
	n.mu.Unlock()
	n.metrics.acquired.Inc()
	n.metrics.owned.Set(float64(len(n.Owned())))
	n.log.Info("partition acquired", zap.Int("partition", p), zap.Uint64("epoch", rev))
	n.wg.Go(func() { n.hold(ctx, o) })
}

// hold runs partition o's engine and renews its lease until the engine
// stops: handed over (it checkpoints, then the lease is deleted), lost
// (renewals failed past the margin, or another riskd's commit fenced it
// off: it stops without a checkpoint and the lease is left to expire) or
// failed.
func (n *Node) hold(ctx context.Context, o *owned) {
	defer close(o.done)
	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engDone := make(chan error, 1)
	go func() { engDone <- o.eng.Run(engCtx) }()
	if o.p == 0 && n.cfg.Partitions > 1 {
		routed := make(chan struct{})
		defer func() { <-routed }()
		go func() {
			defer close(routed)
			if err := n.route(engCtx); err != nil && engCtx.Err() == nil {
				n.log.Warn("placing signals without a customer token stopped", zap.Error(err))
			}
		}()
	}
	renew := time.NewTicker(n.cfg.LeaseTTL / 4)
	defer renew.Stop()
	release := o.release
	leaving := false
	for {
		select {
		case <-renew.C:
			if !n.renew(o) {
				stopEngine()
			}
		case <-release:
			release = nil
			stopEngine()
		case <-ctx.Done():
			ctx = context.Background() // once
			leaving = true
			stopEngine()
		case err := <-engDone:
			stopEngine() // and the placing of signals with it
			_ = o.sub.Unsubscribe()
			o.reg.unregisterAll()
			o.mu.Lock()
			lost, rev := o.lost, o.rev
			o.mu.Unlock()
			switch {
			case err != nil && !lost:
				n.log.Warn("partition engine stopped", zap.Int("partition", o.p), zap.Error(err))
			case err != nil:
				n.log.Warn("partition lost", zap.Int("partition", o.p), zap.Error(err))
			default:
				n.log.Info("partition handed over", zap.Int("partition", o.p))
			}
			if !lost {
				n.deleteLease(o.p, rev)
			}
			if err != nil && leaving {
				n.mu.Lock()
				n.stopErrs = append(n.stopErrs, fmt.Errorf("partition %d: %w", o.p, err))
				n.mu.Unlock()
			}
			n.metrics.released.Inc()
			return
		}
	}
}

// renew renews o's lease; false once it is lost, that is held by
// another riskd. While NATS cannot be reached the lease lapses (the
// engine pauses: held is false) but is not lost: when NATS answers again
// and nobody took the lease meanwhile (it survived, or expired unclaimed),
// renew takes it again and the engine goes on where it paused, with its
// state in memory. A NATS restart then costs no replay. Had another riskd
// held it in between and committed, the engine's next commit is fenced
// off.
func (n *Node) renew(o *owned) bool {
	o.mu.Lock()
	rev, lost := o.rev, o.lost
	o.mu.Unlock()
	if lost {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL/4)
	defer cancel()
	start := time.Now()
	next, err := n.kv.Update(ctx, leaseKey(o.p), []byte(n.cfg.Instance), rev)
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) {
		// Changed since our last write, or gone: gone (expired unclaimed,
		// or let go) is ours to take again; anything else is lost.
		if _, gerr := n.kv.Get(ctx, leaseKey(o.p)); errors.Is(gerr, jetstream.ErrKeyNotFound) {
			start = time.Now()
			next, err = n.kv.Create(ctx, leaseKey(o.p), []byte(n.cfg.Instance))
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case err == nil:
		if !time.Now().Before(o.until) {
			n.log.Info("lease taken again after a lapse; going on", zap.Int("partition", o.p))
		}
		o.rev, o.until = next, start.Add(n.cfg.LeaseTTL-n.margin())
	case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound):
		o.lost = true // another riskd holds it
		n.metrics.lost.Inc()
	default:
		n.log.Warn("lease renewal failed; retrying", zap.Int("partition", o.p), zap.Error(err))
	}
	return !o.lost
}

func (n *Node) deleteLease(p int, rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.kv.Delete(ctx, leaseKey(p), jetstream.LastRevision(rev)); err != nil {
		n.log.Warn("lease not deleted; it expires", zap.Int("partition", p), zap.Error(err))
	}
}

// reap forgets the partitions let go.
func (n *Node) reap() {
	n.mu.Lock()
	for p, o := range n.owned {
		select {
		case <-o.done:
			delete(n.owned, p)
		default:
		}
	}
	count := len(n.owned)
	n.mu.Unlock()
	n.metrics.owned.Set(float64(count))
}

// leave hands every partition over and deletes the membership.
func (n *Node) leave() {
	n.mu.RLock()
	for _, o := range n.owned {
		o.handOver()
	}
	n.mu.RUnlock()
	n.wg.Wait()
	n.reap()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.kv.Delete(ctx, memberKey(n.cfg.Instance)); err != nil {
		n.log.Warn("membership not deleted; it expires", zap.Error(err))
	}
}

// trackingRegisterer remembers what it registered, so that a partition's
// metrics go when the partition does, and come back without a conflict
// when it returns.
type trackingRegisterer struct {
	r  prometheus.Registerer
	mu sync.Mutex
	cs []prometheus.Collector
}

func (t *trackingRegisterer) Register(c prometheus.Collector) error {
	if err := t.r.Register(c); err != nil {
		return err
	}
	t.mu.Lock()
	t.cs = append(t.cs, c)
	t.mu.Unlock()
	return nil
}

func (t *trackingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := t.Register(c); err != nil {
			panic(err)
		}
	}
}

func (t *trackingRegisterer) Unregister(c prometheus.Collector) bool { return t.r.Unregister(c) }

func (t *trackingRegisterer) unregisterAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.cs {
		t.r.Unregister(c)
	}
	t.cs = nil
}
