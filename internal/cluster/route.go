package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/logging"
	"github.com/riskwatch/riskwatch/signals"
)

// route places signals NATS could not: the owner of partition 0 reads
// them, decodes the customer from the body and publishes each again to
// RISK_SIGNALS under the customer's token, whence NATS files it in its
// partition. The message id "routed:<signal id>" makes a second attempt
// (a retry, a deposed owner still routing) a duplicate. A body that names
// no customer goes to the DLQ with the reason. Routed signals are applied
// after the messages published meanwhile: producers that care about
// order, or the extra hop, put the token in the subject.
func (n *Node) route(ctx context.Context) error {
	pl := ingest.Puller{Name: "route", Open: n.openRoute, Batch: 256, Log: logging.NewLimited(n.log, time.Minute)}
	return pl.Run(ctx, func(b jetstream.MessageBatch) error {
		for m := range b.Messages() {
			n.routeOne(ctx, m)
		}
		return nil
	})
}

func (n *Node) openRoute(ctx context.Context) (jetstream.Consumer, error) {
	c, err := n.js.CreateOrUpdateConsumer(ctx, api.PartitionsStream, jetstream.ConsumerConfig{
		Durable: "riskd-route", Description: "riskd: signals without a customer token, placed again",
		FilterSubject: api.RoutePrefix + ">", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
		MaxDeliver: -1})
	if err != nil {
		return nil, fmt.Errorf("create consumer riskd-route: %w", err)
	}
	return c, nil
}

// routeOne places one message, and acknowledges it once what it became
// (the signal again, or a DLQ entry) is stored; a failure leaves it for
// redelivery.
func (n *Node) routeOne(ctx context.Context, m jetstream.Msg) {
	subject := "risk." + strings.TrimPrefix(m.Subject(), api.RoutePrefix)
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	var sig signals.Signal
	out := nats.NewMsg("")
	out.Data = m.Data()
	if err := signals.DecodeInto(&sig, subject, m.Data(), time.Now()); err != nil {
		out.Subject = api.DLQPrefix + strings.TrimPrefix(subject, signals.SignalPrefix)
		if !signals.Kind(strings.TrimPrefix(subject, signals.SignalPrefix)).Valid() {
			out.Subject = api.DLQPrefix + "unknown"
		}
		out.Header.Set(api.ErrorHeader, err.Error())
		out.Header.Set(api.SubjectHeader, subject)
		out.Header.Set(jetstream.MsgIDHeader, "dlq-route-"+strconv.FormatUint(md.Sequence.Stream, 10))
	} else {
		out.Subject = signals.Subject(sig.Kind, sig.Customer)
		out.Header.Set(jetstream.MsgIDHeader, "routed:"+sig.ID)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := n.js.PublishMsg(pctx, out); err != nil {
		n.log.Warn("signal without a customer token not placed; retrying", zap.String("subject", subject), zap.Error(err))
		_ = m.NakWithDelay(time.Second)
		return
	}
	_ = m.Ack()
}
