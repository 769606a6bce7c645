package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/signals"
)

// Bounds of the live feed.
const (
	feedBuffer      = 64               // alerts queued for a slow browser before it is told to reload
	feedHeartbeat   = 15 * time.Second // a comment keeps proxies from closing an idle stream
	feedWriteWindow = 30 * time.Second // each write must finish within this
	openAlertsShown = 100
)

// feedAlert is an alert as the feed shows it.
type feedAlert struct {
	alerting.Alert
	URL    string `json:"url"`
	Status string `json:"status,omitempty"`
	CanAck bool   `json:"can_ack"`
}

type alertsData struct {
	Owner  string
	Owners []string
	Open   []feedAlert
	Live   bool
}

// alertsPage lists the open alerts, newest first; the script then adds
// the ones that arrive.
func (d *Dashboard) alertsPage(w http.ResponseWriter, r *http.Request) {
	owner := r.URL.Query().Get("owner")
	if len(owner) > signals.MaxField {
		owner = ""
	}
	en := d.book.get(listKey{tier: "risk", owner: owner})
	if en.err != nil {
		d.fail(w, r, en.err, http.StatusServiceUnavailable, "The alerts cannot be read right now (a part of the book is changing hands); try again in a few seconds.")
		return
	}
	now := d.o.Now()
	var open []feedAlert
	for i := range en.views {
		v := &en.views[i]
		if v.LastAlert == nil || !v.Alerting.Open() {
			continue
		}
		open = append(open, feedAlert{Alert: *v.LastAlert, URL: customerURL(v.Customer), Status: alertStatus(v, now),
			CanAck: !d.o.ReadOnly && v.Alerting.Ack == nil && v.LastAlert.ID == v.Alerting.LastID})
	}
	slices.SortFunc(open, func(a, b feedAlert) int { return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(a.Customer, b.Customer)) })
	open = open[:min(len(open), openAlertsShown)]
	owners, _, _ := d.choices()
	d.render(w, r, http.StatusOK, "alerts", page{Title: "Alerts", Nav: "alerts",
		Data: alertsData{Owner: owner, Owners: owners, Open: open, Live: d.o.JetStream != nil}})
}

// alertEvents streams the alerts published from now on as server-sent
// events, filtered by owner: an ordered consumer of RISK_ALERTS, which
// needs no durable state and starts again where it was if NATS
// reconnects.
func (d *Dashboard) alertEvents(w http.ResponseWriter, r *http.Request) {
	if d.o.JetStream == nil {
		http.Error(w, "the live feed is not available: riskd has no alert stream to read", http.StatusServiceUnavailable)
		return
	}
	owner := r.URL.Query().Get("owner")
	if len(owner) > signals.MaxField {
		http.Error(w, "owner is too long", http.StatusBadRequest)
		return
	}
	filter := alerting.SubjectPrefix + ">"
	if owner != "" {
		filter = alerting.SubjectPrefix + "*." + signals.SubjectToken(owner) + ".*"
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	oc, err := d.o.JetStream.OrderedConsumer(ctx, alerting.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		d.o.Log.Warn("live feed: read the alert stream", zap.Error(err))
		http.Error(w, "the alert stream cannot be read: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	feed := make(chan jetstream.Msg, feedBuffer)
	overflow := make(chan struct{}, 1)
	cc, err := oc.Consume(func(m jetstream.Msg) {
		select {
		case feed <- m:
		default:
			select {
			case overflow <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		http.Error(w, "the alert stream cannot be read: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer cc.Stop()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(s string) bool {
		// The server's write timeout is for answers, not streams: each
		// write gets its own window instead.
		_ = rc.SetWriteDeadline(time.Now().Add(feedWriteWindow))
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": riskwatch alerts\nretry: 3000\n\n") {
		return
	}
	beat := time.NewTicker(feedHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.o.Stop:
			return
		case <-overflow:
			// The browser fell behind: it reloads the page rather than
			// miss alerts silently.
			write("event: reload\ndata: {}\n\n")
			return
		case <-beat.C:
			if !write(": ping\n\n") {
				return
			}
		case m := <-feed:
			var a alerting.Alert
			if err := json.Unmarshal(m.Data(), &a); err != nil {
				continue // not an alert (malformed): nothing to show
			}
			fa := feedAlert{Alert: a, URL: customerURL(a.Customer)}
			if v, ok, err := d.o.Engine.Customer(ctx, a.Customer); err == nil && ok {
				fa.Status = alertStatus(&v, d.o.Now())
				fa.CanAck = !d.o.ReadOnly && a.Type != alerting.Resolved && v.Alerting.Ack == nil && v.Alerting.LastID == a.ID
			}
			body, err := json.Marshal(fa)
			if err != nil {
				continue
			}
			if !write("event: alert\ndata: " + string(body) + "\n\n") {
				return
			}
		}
	}
}
