package daemon

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/internal/apiserver"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/hookserver"
	"github.com/riskwatch/riskwatch/internal/pusher"
)

// Connectors (docs/connectors.md): inbound hooks on the HTTP listener,
// scores pushed to customer-success platforms. Kept apart from
// daemon.go's wiring; they need only the NATS connection and the API's
// engine seam, not the engine itself.

// mountHooks serves the configured hooks under /hooks/ beside h.
func (d *Daemon) mountHooks(h http.Handler, c *config.Config, log *zap.Logger) (http.Handler, error) {
	if len(c.Hooks.Sources) == 0 {
		return h, nil
	}
	js, err := jetstream.New(d.Conn)
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	hs, err := hookserver.New(c.Hooks.Sources, hookserver.Options{Publisher: js,
		MaxPayload: d.Conn.MaxPayload, Registerer: d.Registry, Log: log.Named("hooks")})
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	return hookserver.Mount(h, hs), nil
}

// startPush runs the pusher on scores until ctx ends.
func (d *Daemon) startPush(ctx context.Context, wg *sync.WaitGroup, scores apiserver.Engine, c *config.Config, log *zap.Logger, errs chan<- error) {
	if len(c.Push.Destinations) == 0 {
		return
	}
	o := pusher.Options{Interval: c.Push.Interval, Thresholds: c.Push.Thresholds(), Log: log.Named("push"), Registerer: d.Registry}
	js, err := jetstream.New(d.Conn)
	if err != nil {
		errs <- fmt.Errorf("push: %w", err)
		return
	}
	wg.Go(func() {
		if err := pusher.Run(ctx, scores, js, c.Push.Destinations, o); err != nil && ctx.Err() == nil {
			errs <- fmt.Errorf("push: %w", err)
		}
	})
}
