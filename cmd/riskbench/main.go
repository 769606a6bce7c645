// Command riskbench measures whether the Riskwatch engine keeps up with
// NATS. In one run, against one server, it measures raw JetStream (async
// publish, durable pull consume) with nats.go alone, then riskd's engine
// draining the same stream, the scorer alone in process, publish-to-score
// and publish-to-alert latency at a fixed offered rate, the memory a
// tracked customer costs and the time a restart takes to be ready. It
// prints a table with the ratios the performance targets are stated in
// and can write the numbers as JSON.
//
//	go run ./cmd/riskbench                       # everything, defaults
//	go run ./cmd/riskbench --signals 100000 --customers 10000 --restart-customers 100000
//	go run ./cmd/riskbench --nats-url nats://host:4222 --reset --json out.json
//
// See docs/performance.md for what each number means and the cost model.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/riskwatch/riskwatch/api"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/api/client"
	"github.com/riskwatch/riskwatch/internal/broker"
)

func main() {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	Signals          int           `json:"signals"`
	Customers        int           `json:"customers"`
	Days             float64       `json:"days"`
	Rate             float64       `json:"rate"`
	Duration         time.Duration `json:"duration"`
	RestartCustomers int           `json:"restart_customers"`
	Seed             uint64        `json:"seed"`
	NATSURL          string        `json:"nats_url,omitempty"`
	Reset            bool          `json:"-"`
	JSON             string        `json:"-"`
	Pprof            string        `json:"-"`
	Store            string        `json:"-"`
	Skip             []string      `json:"skip,omitempty"`
}

var phases = []string{"raw", "ingest", "core", "latency", "memory", "restart", "cluster"}

func parse(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("riskbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Signals, "signals", 1_000_000, "signals to pre-fill RISK_SIGNALS with")
	fs.IntVar(&o.Customers, "customers", 100_000, "customers the signals are spread over")
	fs.Float64Var(&o.Days, "days", 3, "days of event time the pre-filled signals span, ending now")
	fs.Float64Var(&o.Rate, "rate", 10_000, "offered rate of the latency phase, signals/s")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "length of the latency phase")
	fs.IntVar(&o.RestartCustomers, "restart-customers", 1_000_000, "customers of state for the restart and the second memory point")
	fs.Uint64Var(&o.Seed, "seed", 1, "workload seed: the same seed gives the same signals")
	fs.StringVar(&o.NATSURL, "nats-url", "", "run against this NATS server instead of an embedded one")
	fs.BoolVar(&o.Reset, "reset", false, "with --nats-url: delete the Riskwatch streams and buckets first (they must be empty otherwise)")
	fs.StringVar(&o.JSON, "json", "", "write the results as JSON to this file")
	fs.StringVar(&o.Pprof, "pprof", "", "write CPU profiles of ingest, core and latency and a heap profile to this directory")
	fs.StringVar(&o.Store, "store", "", "JetStream store directory of the embedded server (default: a temporary one, removed after)")
	skip := fs.String("skip", "", "comma-separated phases to skip: "+strings.Join(phases, ", "))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(*skip, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(phases, s) {
			return o, fmt.Errorf("--skip %s: want some of %s", s, strings.Join(phases, ", "))
		}
		o.Skip = append(o.Skip, s)
	}
	switch {
	case o.Signals < 1 || o.Customers < 1:
		return o, errors.New("--signals and --customers must be at least 1")
	case o.Days <= 0 || o.Days > 300:
		return o, errors.New("--days must be in (0, 300]")
	case o.Rate <= 0 || o.Duration <= 0:
		return o, errors.New("--rate and --duration must be positive")
	}
	return o, nil
}

func (o options) skipped(phase string) bool { return slices.Contains(o.Skip, phase) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "riskbench:", err)
		return 2
	}
	res, err := bench(ctx, o, stderr)
	if res != nil {
		res.check()
		fmt.Fprint(stdout, res.table())
		if o.JSON != "" {
			if werr := writeJSON(o.JSON, res); werr != nil {
				fmt.Fprintln(stderr, "riskbench:", werr)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "riskbench:", err)
		return 1
	}
	return 0
}

func writeJSON(path string, r *results) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// natsServer is the NATS the benchmark runs against.
type natsServer struct {
	url     string
	embed   *server.Server
	cleanup func()
}

func startServer(o options) (*natsServer, error) {
	if o.NATSURL != "" {
		return &natsServer{url: o.NATSURL, cleanup: func() {}}, nil
	}
	dir := o.Store
	remove := false
	if dir == "" {
		d, err := os.MkdirTemp("", "riskbench-*")
		if err != nil {
			return nil, fmt.Errorf("store directory: %w", err)
		}
		dir, remove = d, true
	}
	s, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: "127.0.0.1:0", StoreDir: dir}, nil)
	if err != nil {
		return nil, err
	}
	return &natsServer{url: s.ClientURL(), embed: s, cleanup: func() {
		s.Shutdown()
		s.WaitForShutdown()
		if remove {
			_ = os.RemoveAll(dir)
		}
	}}, nil
}

// connect opens a client connection: in process for the embedded server,
// as riskd connects to its own, else over the network.
func (s *natsServer) connect(name string) (*nats.Conn, error) {
	if s.embed != nil {
		return broker.ConnectEmbedded(s.embed, client.Options{Name: name})
	}
	return client.Connect(client.Options{URL: s.url, Name: name}.FromEnv())
}

// prepare makes sure the Riskwatch streams and buckets start empty.
func prepare(ctx context.Context, nc *nats.Conn, reset bool) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	streams := []string{api.SignalsStream, api.AlertsStream, api.DLQStream, api.StateStream,
		"KV_" + api.ProfilesBucket}
	for _, name := range streams {
		s, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		if n := s.CachedInfo().State.Msgs; n > 0 && !reset {
			return fmt.Errorf("stream %s holds %d messages: riskbench needs empty Riskwatch streams; pass --reset to delete them", name, n)
		}
		if err := js.DeleteStream(ctx, name); err != nil {
			return fmt.Errorf("delete stream %s: %w", name, err)
		}
	}
	return nil
}

// waitConsumer waits until the engine has made its durable consumer.
func waitConsumer(ctx context.Context, nc *nats.Conn, name string) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		_, err := js.Consumer(ctx, api.SignalsStream, name)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("consumer %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the engine made no consumer %s: %w", name, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// phase runs fn with a CPU profile when --pprof is set.
func (o options) phase(name string, stderr io.Writer, fn func() error) error {
	fmt.Fprintf(stderr, "riskbench: %s...\n", name)
	if o.Pprof == "" {
		return fn()
	}
	if err := os.MkdirAll(o.Pprof, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(o.Pprof, name+".cpu.pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	// Where goroutines wait is half the story of a pipeline: a block
	// profile (blocking of 10 µs and more) next to the CPU profile.
	runtime.SetBlockProfileRate(int((10 * time.Microsecond).Nanoseconds()))
	err = fn()
	pprof.StopCPUProfile()
	runtime.SetBlockProfileRate(0)
	if werr := writeProfile(filepath.Join(o.Pprof, name+".block.pprof"), "block"); err == nil {
		err = werr
	}
	return err
}

func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup(name).WriteTo(f, 0)
}

func (o options) heapProfile(name string) error {
	if o.Pprof == "" {
		return nil
	}
	f, err := os.Create(filepath.Join(o.Pprof, name+".heap.pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}

// bench runs the phases o does not skip, in order, and returns what they
// measured, also when a phase fails.
func bench(ctx context.Context, o options, stderr io.Writer) (*results, error) {
	res := &results{Options: o, Go: runtime.Version(), CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	srv, err := startServer(o)
	if err != nil {
		return nil, err
	}
	defer srv.cleanup()
	nc, err := srv.connect("riskbench")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	res.Server = nc.ConnectedServerVersion()
	res.External = o.NATSURL != ""
	if err := prepare(ctx, nc, o.Reset); err != nil {
		return nil, err
	}

	// The workload ends ten minutes ago: all of it is in the past for the
	// wall clock, and the latency phase continues from now.
	end := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	w := newWorkload(o.Customers, end, o.Seed)
	c := &corpus{}
	if err := w.addProfiles(c); err != nil {
		return nil, err
	}
	w.addSignals(c, o.Signals, end.Add(-time.Duration(o.Days*float64(24*time.Hour))), end)
	res.Messages, res.Profiles = c.Len(), o.Customers
	res.MeanSignalBytes = float64(c.Bytes()) / float64(c.Len())

	b := &benchRun{o: o, stderr: stderr, srv: srv, nc: nc, w: w, c: c, res: res}
	needStream := !o.skipped("raw") || !o.skipped("ingest")
	if needStream {
		if err := b.prefill(ctx); err != nil {
			return res, err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return res, err
	}
	if !o.skipped("raw") {
		if err := b.rawConsume(ctx); err != nil {
			return res, err
		}
	}
	if !o.skipped("core") {
		err := o.phase("core", stderr, func() error {
			set, err := riskdRules()
			if err != nil {
				return err
			}
			r, err := runCore(c, set, time.Now())
			res.Core = &r
			return err
		})
		if err != nil {
			return res, fmt.Errorf("core: %w", err)
		}
	}
	if !o.skipped("ingest") {
		// Ingest: the engine drains the pre-filled stream.
		econn, err := srv.connect("riskd")
		if err != nil {
			return res, err
		}
		defer econn.Close()
		if err := b.ingestAndLatency(ctx, js, econn); err != nil {
			return res, err
		}
		if err := b.memoryAndRestart(ctx); err != nil {
			return res, err
		}
	}
	if !o.skipped("cluster") {
		if err := o.phase("cluster", stderr, func() error { return b.runCluster(ctx) }); err != nil {
			return res, fmt.Errorf("cluster: %w", err)
		}
	}
	return res, nil
}

// benchRun is one run of the benchmark: its options, the server, the
// workload, and the results measured so far.
type benchRun struct {
	o      options
	stderr io.Writer
	srv    *natsServer
	nc     *nats.Conn
	w      *workload
	c      *corpus
	res    *results
}

// prefill publishes the corpus to the stream the engine creates on a first
// start, and measures the publishing.
func (b *benchRun) prefill(ctx context.Context) error {
	o, c := b.o, b.c
	// Let the engine create its streams, buckets and consumer, as on
	// a first start, so the pre-fill lands in the real stream.
	econn, err := b.srv.connect("riskd")
	if err != nil {
		return err
	}
	run, err := startEngine(econn, engineOpts{})
	if err != nil {
		return err
	}
	if _, err := run.waitReady(ctx); err != nil {
		return err
	}
	if err := waitConsumer(ctx, b.nc, "riskd"); err != nil {
		return err
	}
	// The consumer exists on the server; the engine may still be
	// waiting for the reply that says so, and stopping it then is not
	// a failure.
	if _, err := run.stop(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	econn.Close()

	pconn, err := b.srv.connect("riskbench-producer")
	if err != nil {
		return err
	}
	fmt.Fprintf(b.stderr, "riskbench: pre-filling %s with %d messages (%d profiles, %d signals)...\n",
		api.SignalsStream, c.Len(), o.Customers, o.Signals)
	took, err := publishAll(ctx, pconn, c)
	pconn.Close()
	if err != nil {
		return fmt.Errorf("pre-fill: %w", err)
	}
	b.res.Publish = newRate(c.Len(), c.Bytes(), took)
	return nil
}

// rawConsume measures nats.go alone consuming the pre-filled stream, once
// by fetching batches and once by the messages iterator.
func (b *benchRun) rawConsume(ctx context.Context) error {
	c, res := b.c, b.res
	for _, mode := range []string{modeFetch, modeMessages} {
		cconn, err := b.srv.connect("riskbench-consumer")
		if err != nil {
			return err
		}
		cjs, _ := jetstream.New(cconn)
		err = b.o.phase("raw-consume-"+mode, b.stderr, func() error {
			took, err := consumeAll(ctx, cjs, api.SignalsStream, c.Len(), mode, 1000)
			if err == nil {
				r := newRate(c.Len(), c.Bytes(), took)
				if mode == modeFetch {
					res.ConsumeFetch = r
				} else {
					res.ConsumeMessages = r
				}
			}
			return err
		})
		cconn.Close()
		if err != nil {
			return fmt.Errorf("raw consume (%s): %w", mode, err)
		}
	}
	return nil
}

// ingestAndLatency measures the engine, on econn, draining the pre-filled
// stream, then the latency of signals published to it at the offered
// rate, then its final checkpoint.
func (b *benchRun) ingestAndLatency(ctx context.Context, js jetstream.JetStream, econn *nats.Conn) error {
	o, c, res := b.o, b.c, b.res
	latSignals := int(o.Rate * o.Duration.Seconds())
	probe := newLatencyProbe(b.w.seq+1, latSignals, o.Customers)
	// The probe only looks at signals of the latency phase: during ingest
	// the hook costs one atomic load.
	var probing atomic.Bool
	scored := func(customer, id string) {
		if probing.Load() {
			probe.scored(customer, id)
		}
	}
	var eng *engineRun
	err := o.phase("ingest", b.stderr, func() error {
		last, err := lastSeq(ctx, js)
		if err != nil {
			return err
		}
		eng, err = startEngine(econn, engineOpts{scored: scored})
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		defer cancel()
		if err := eng.eng.WaitApplied(wctx, last); err != nil {
			return err
		}
		res.Ingest = ingestOf(eng, c.Len(), c.Bytes(), time.Since(eng.started))
		return nil
	})
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if err := o.heapProfile("ingest"); err != nil {
		return err
	}
	if !o.skipped("latency") {
		err := o.phase("latency", b.stderr, func() error {
			pconn, err := b.srv.connect("riskbench-producer")
			if err != nil {
				return err
			}
			defer pconn.Close()
			probing.Store(true)
			defer probing.Store(false)
			r, err := runLatency(ctx, pconn, eng, b.w, probe, o.Rate, o.Duration)
			res.Latency = &r
			return err
		})
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
	}
	took, err := eng.stop()
	if err != nil {
		return err
	}
	res.Ingest.FinalCheckpointSeconds = took.Seconds()
	return nil
}

// memoryAndRestart measures, in child processes, the memory of the
// customers the workload has and the restart with the restart customers,
// cloning state to reach them.
func (b *benchRun) memoryAndRestart(ctx context.Context) error {
	o, res := b.o, b.res
	if !o.skipped("memory") {
		fmt.Fprintf(b.stderr, "riskbench: memory with %d customers (restart child)...\n", o.Customers)
		r, err := restartChild(ctx, b.srv.url, o.Pprof)
		if err != nil {
			return err
		}
		res.Memory = append(res.Memory, r)
	}
	if !o.skipped("restart") {
		if o.RestartCustomers > o.Customers {
			fmt.Fprintf(b.stderr, "riskbench: cloning state to %d customers...\n", o.RestartCustomers)
			if _, err := cloneState(ctx, b.nc, o.RestartCustomers); err != nil {
				return fmt.Errorf("clone state: %w", err)
			}
		}
		fmt.Fprintf(b.stderr, "riskbench: restart with %d customers (restart child)...\n", o.RestartCustomers)
		r, err := restartChild(ctx, b.srv.url, o.Pprof)
		if err != nil {
			return err
		}
		res.Restart = &r
		if o.RestartCustomers != o.Customers || o.skipped("memory") {
			res.Memory = append(res.Memory, r)
		}
	}
	return nil
}
