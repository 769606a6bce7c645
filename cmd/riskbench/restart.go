package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/signals"
)

// childEnv makes riskbench run as the restart child instead: a fresh
// process, like riskd after a restart, holding nothing but the engine.
const (
	childEnv    = "RISKBENCH_CHILD"
	childURLEnv = "RISKBENCH_NATS_URL"
	// childPprofEnv, when set, is where the child writes an exact heap
	// profile of the restored state.
	childPprofEnv = "RISKBENCH_PPROF"
	// childDebugEnv, when set, makes the child log the engine to stderr.
	childDebugEnv = "RISKBENCH_DEBUG"
)

// restartResult is what a child reports: time to ready and the memory the
// restored state takes.
type restartResult struct {
	Customers     int     `json:"customers"`
	Profiles      int     `json:"profiles"`
	ReadySeconds  float64 `json:"ready_seconds"`
	HeapBytes     uint64  `json:"heap_bytes"` // live heap after GC, minus the baseline
	RSSBytes      uint64  `json:"rss_bytes"`  // resident set after GC, minus the baseline
	PeakRSSBytes  uint64  `json:"peak_rss_bytes"`
	HeapPerCust   float64 `json:"heap_bytes_per_customer"`
	RSSPerCust    float64 `json:"rss_bytes_per_customer"`
	TotalRSSBytes uint64  `json:"total_rss_bytes"`
}

// runChild is the child's main: restore, report, stop.
func runChild(out *os.File) error {
	url := os.Getenv(childURLEnv)
	nc, err := nats.Connect(url, nats.Name("riskbench-restart"))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", url, err)
	}
	defer nc.Close()
	log := zap.NewNop()
	if os.Getenv(childDebugEnv) != "" {
		log, _ = zap.NewDevelopment()
	}
	cfg, err := riskdConfig(log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	// No sweep while memory is measured: it would only add garbage.
	cfg.SweepInterval = 24 * time.Hour
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0, rss0 := ms.HeapAlloc, procStatus("VmRSS")

	eng, err := engine.New(nc, cfg)
	if err != nil {
		return err
	}
	if dir := os.Getenv(childPprofEnv); dir != "" {
		f, err := os.Create(filepath.Join(dir, "restore.cpu.pprof"))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- eng.Run(ctx) }()
	r := &engineRun{eng: eng, cancel: cancel, done: done, started: start}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Minute)
	defer wcancel()
	ready, err := r.waitReady(wctx)
	if err != nil {
		return err
	}
	pprof.StopCPUProfile()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	st := eng.Stats()
	res := restartResult{Customers: st.Customers, Profiles: st.Profiles, ReadySeconds: ready.Seconds(),
		HeapBytes: ms.HeapAlloc - min(ms.HeapAlloc, heap0), PeakRSSBytes: procStatus("VmHWM")}
	rss := procStatus("VmRSS")
	res.TotalRSSBytes = rss
	res.RSSBytes = rss - min(rss, rss0)
	if st.Customers > 0 {
		res.HeapPerCust = float64(res.HeapBytes) / float64(st.Customers)
		res.RSSPerCust = float64(res.RSSBytes) / float64(st.Customers)
	}
	if dir := os.Getenv(childPprofEnv); dir != "" {
		path := filepath.Join(dir, fmt.Sprintf("restored-%d.heap.pprof", st.Customers))
		if err := writeProfile(path, "heap"); err != nil {
			return err
		}
	}
	// Ready comes before the engine has made its consumer; stopping it
	// while it waits for the server's reply is no failure.
	if _, err := r.stop(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return json.NewEncoder(out).Encode(res)
}

// procStatus reads a "kB" line of /proc/self/status, in bytes; 0 where
// there is no procfs.
func procStatus(key string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

// restartChild runs a fresh riskbench process that restores the engine
// from what the server holds.
func restartChild(ctx context.Context, url, pprofDir string) (restartResult, error) {
	var res restartResult
	exe, err := os.Executable()
	if err != nil {
		return res, fmt.Errorf("own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"=restore", childURLEnv+"="+url)
	if pprofDir != "" {
		cmd.Env = append(cmd.Env, childPprofEnv+"="+pprofDir)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("restart child: %w", err)
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
		return res, fmt.Errorf("restart child output %q: %w", out, err)
	}
	return res, nil
}

// State and profile records in their buckets, as the engine writes them.
const (
	stateSubjects   = "$KV." + engine.StateBucket + ".c."
	profileSubjects = "$KV." + engine.ProfilesBucket + "."
)

// cloneState grows the checkpointed state to about target customers by
// copying every customer record and profile under new customer ids
// ("<id>-x<k>"). Restore reads each record's customer from its body, so
// the copy renames it there and files it under the key the engine would
// use. The copies are as realistic as the originals, which came from the
// ingest phase. Returns how many customers the buckets then hold.
func cloneState(ctx context.Context, nc *nats.Conn, target int) (int, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return 0, err
	}
	type rec struct {
		subject string
		data    []byte
		header  nats.Header
	}
	read := func(stream, filter string) ([]rec, error) {
		var out []rec
		err := readLast(ctx, js, stream, filter, func(m jetstream.Msg) {
			if op := m.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				return
			}
			out = append(out, rec{m.Subject(), m.Data(), m.Headers()})
		})
		return out, err
	}
	states, err := read("KV_"+engine.StateBucket, stateSubjects+">")
	if err != nil {
		return 0, fmt.Errorf("read state records: %w", err)
	}
	profiles, err := read("KV_"+engine.ProfilesBucket, profileSubjects+">")
	if err != nil {
		return 0, fmt.Errorf("read profiles: %w", err)
	}
	if len(states) == 0 {
		return 0, errors.New("no customer records to clone: did ingest run?")
	}
	copies := (target - len(states) + len(states) - 1) / len(states)
	publish := func(subject string, data []byte, h nats.Header) error {
		m := &nats.Msg{Subject: subject, Data: data, Header: h}
		for {
			_, err := js.PublishMsgAsync(m)
			if err == nil {
				return nil
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				return err
			}
		}
	}
	// Profiles by customer token: a copy gets the copy of its profile.
	profileOf := make(map[string]rec, len(profiles))
	for _, r := range profiles {
		profileOf[strings.TrimPrefix(r.subject, profileSubjects)] = r
	}
	made := len(states)
	for k := 1; k <= copies && made < target; k++ {
		suffix := "-x" + strconv.Itoa(k)
		for _, r := range states {
			if made >= target {
				break
			}
			id, body, err := renameRecord(r.subject, r.data, suffix)
			if err != nil {
				return 0, err
			}
			if err := publish(stateSubjects+signals.SubjectToken(id), body, nil); err != nil {
				return 0, fmt.Errorf("write cloned record: %w", err)
			}
			made++
			pr, ok := profileOf[strings.TrimPrefix(r.subject, stateSubjects)]
			if !ok {
				continue
			}
			var p signals.Profile
			if err := json.Unmarshal(pr.data, &p); err != nil {
				return 0, fmt.Errorf("profile %s: %w", pr.subject, err)
			}
			p.ID += suffix
			body, err = json.Marshal(p)
			if err != nil {
				return 0, err
			}
			if err := publish(profileSubjects+signals.SubjectToken(p.ID), body, pr.header); err != nil {
				return 0, fmt.Errorf("write cloned profile: %w", err)
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return made, nil
}

// renameRecord gives a customer record read from subject the customer
// id+suffix.
func renameRecord(subject string, data []byte, suffix string) (string, []byte, error) {
	rec, err := engine.DecodeRecord(data)
	if err != nil {
		return "", nil, fmt.Errorf("record %s: %w", subject, err)
	}
	rec.State.Customer += suffix
	body, err := engine.AppendRecord(nil, rec)
	if err != nil {
		return "", nil, fmt.Errorf("record %s: %w", subject, err)
	}
	return rec.State.Customer, body, nil
}

// readLast calls fn with the last message of every subject of stream
// under filter.
func readLast(ctx context.Context, js jetstream.JetStream, stream, filter string, fn func(jetstream.Msg)) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	if s.CachedInfo().State.Msgs == 0 {
		return nil
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter},
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy})
	if err != nil {
		return err
	}
	for {
		b, err := oc.Fetch(10_000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		got := 0
		var pending uint64
		for m := range b.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			pending = md.NumPending
			fn(m)
		}
		if got == 0 || pending == 0 {
			return nil
		}
	}
}

// childMain is called from main before flags are parsed.
func childMain() int {
	if err := runChild(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "riskbench restart child:", err)
		return 1
	}
	return 0
}
