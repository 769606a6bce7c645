package engine

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
)

// publishDigests sends each owner the day's summary of their accounts
// above healthy today or yesterday, as of stream sequence seq. Called with
// e.mu held.
func (e *Engine) publishDigests(now int64, seq uint64) {
	date := time.Unix(now, 0).UTC()
	byOwner := map[string][]alerting.DigestEntry{}
	for id, c := range e.customers {
		if e.ahead(c, now, seq) {
			// Its digest went out before the crash; the id, per owner and
			// day, makes this one a duplicate JetStream drops.
			continue
		}
		p := e.profiles[id]
		yesterday, ok := c.Score.ScoreOn(now - daySeconds)
		if c.Score.Tier == rules.Healthy && (!ok || yesterday == 0) {
			continue
		}
		segment, owner := "", ""
		ent := alerting.DigestEntry{Customer: id, Score: c.Score.Score, ScoreYesterday: yesterday,
			Tier: c.Score.Tier, DaysToRenewal: -1}
		if p != nil {
			segment, owner = p.Segment, p.Owner
			ent.Name, ent.ARR = p.Name, p.ARR
			ent.RevenueAtRisk = alerting.RevenueAtRisk(p.ARR, c.Score.Score)
			ent.DaysToRenewal = p.DaysToRenewal(date)
		}
		ent.TierYesterday = e.cfg.Rules.ThresholdsFor(segment).Classify(yesterday, rules.Healthy)
		if ent.Tier == rules.Healthy && ent.TierYesterday == rules.Healthy {
			continue
		}
		byOwner[owner] = append(byOwner[owner], ent)
	}
	for owner, entries := range byOwner {
		d := alerting.BuildDigest(owner, date, entries)
		body, err := json.Marshal(d)
		if err != nil {
			e.log.Error("digest does not encode", zap.String("owner", owner), zap.Error(err))
			continue
		}
		msg := nats.NewMsg(alerting.DigestSubject(owner))
		msg.Data = body
		msg.Header.Set(jetstream.MsgIDHeader, alerting.DigestID(d))
		e.publish(msg)
	}
}
