// Command riskd is the Riskwatch daemon: it consumes churn signals from
// NATS, scores every customer and publishes alerts. See riskd --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/internal/buildinfo"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/daemon"
	"github.com/riskwatch/riskwatch/internal/logging"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := config.Load(args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, config.ErrVersion) {
		fmt.Println("riskd", buildinfo.Get())
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "riskd:", err)
		return 2
	}
	log, err := logging.New(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "riskd:", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := daemon.Run(ctx, cfg, log, os.Stdout, nil); err != nil {
		log.Error("riskd stopped", zap.Error(err))
		return 1
	}
	log.Info("riskd stopped cleanly")
	return 0
}
