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
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/statelog"
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
	// What riskd does after a large restore (the engine starts the same
	// call beside the intake): collect, and hand the restore's garbage
	// back. Called here too, so the figures do not depend on whether the
	// engine's call has finished.
	debug.FreeOSMemory()
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

// cloneState grows the checkpointed state to about target customers by
// copying every customer record and profile under new customer ids
// ("<id>-x<k>"), and writes the whole as a checkpoint image that a
// restarted riskd restores. The copies are as realistic as the originals,
// which came from the ingest phase. Returns how many customers the state
// then holds.
func cloneState(ctx context.Context, nc *nats.Conn, target int) (int, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	cp, err := statelog.ReadCheckpoint(ctx, js)
	if err != nil {
		return 0, fmt.Errorf("read the checkpoint: %w", err)
	}
	if len(cp.Records) == 0 {
		return 0, errors.New("no customer records to clone: did ingest run?")
	}
	profileOf := make(map[string]signals.Profile, len(cp.Profiles))
	for _, p := range cp.Profiles {
		profileOf[p.ID] = p
	}
	originals := cp.Records
	for k := 1; len(cp.Records) < target; k++ {
		suffix := "-x" + strconv.Itoa(k)
		for _, r := range originals {
			if len(cp.Records) >= target {
				break
			}
			c := renamed(r, suffix)
			cp.Records = append(cp.Records, c)
			if p, ok := profileOf[r.State.Customer]; ok {
				p.ID = c.State.Customer
				cp.Profiles = append(cp.Profiles, p)
			}
		}
	}
	if err := statelog.WriteImage(ctx, js, cp, nc.MaxPayload()); err != nil {
		return 0, fmt.Errorf("write the grown state: %w", err)
	}
	return len(cp.Records), nil
}

// renamed is a copy of customer record r under the customer id+suffix.
// The copy shares r's slices: nothing changes either before both are
// written.
func renamed(r statelog.Record, suffix string) statelog.Record {
	st := *r.State
	st.Customer += suffix
	return statelog.Record{State: &st, Alert: r.Alert}
}

// childMain is called from main before flags are parsed.
func childMain() int {
	if err := runChild(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "riskbench restart child:", err)
		return 1
	}
	return 0
}
