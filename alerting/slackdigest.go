package alerting

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// SlackDigestEntries is how many customers of a digest a Slack message
// lists; the digest itself holds up to MaxDigestEntries.
const SlackDigestEntries = 10

// SlackDigest renders an owner's daily digest as a Slack incoming-webhook
// message: the totals, what changed since yesterday, the budget and the
// raises it deferred, the customers most likely to churn, and the
// outcomes of the period. Text from profiles is escaped, as in Slack.
func SlackDigest(d *Digest) ([]byte, error) {
	owner := d.Owner
	if owner == "" {
		owner = Unassigned
	}
	headline := fmt.Sprintf("📋 Daily digest for %s, %s", owner, d.Date)
	summary := fmt.Sprintf("%d customers above healthy · revenue at risk %s", d.Total, Money(d.RevenueAtRisk, ""))
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(headline, slackHeaderMax), Emoji: true}},
	}
	var b strings.Builder
	b.WriteString("*" + escape(summary) + "*")
	for _, l := range []struct {
		name string
		ids  []string
	}{{"New", d.New}, {"Worse", d.Worse}, {"Better", d.Better}, {"Muted by a parent account", d.Inhibited}} {
		if len(l.ids) > 0 {
			fmt.Fprintf(&b, "\n%s: %s", l.name, idList(l.ids))
		}
	}
	if d.Budget != nil {
		fmt.Fprintf(&b, "\nBudget: %d of %d new alerts used today", d.Budget.Used, d.Budget.Limit)
	}
	if len(d.Deferred) > 0 {
		fmt.Fprintf(&b, "\nWaiting for the budget (no alert yet): %s", idList(d.Deferred))
	}
	blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(b.String(), slackSectionMax)}})
	if len(d.Entries) > 0 {
		b.Reset()
		b.WriteString("*Most likely to churn*")
		for _, e := range d.Entries[:min(len(d.Entries), SlackDigestEntries)] {
			name := e.Name
			if name == "" {
				name = e.Customer
			}
			fmt.Fprintf(&b, "\n• *%s* %s, score %.0f", escape(truncate(name, slackDetailMax)), e.Tier, e.Score)
			if d.HorizonDays > 0 {
				fmt.Fprintf(&b, ", %s", Chance(e.Probability, d.HorizonDays))
			}
			if e.RevenueAtRisk > 0 {
				fmt.Fprintf(&b, ", %s at risk", Money(e.RevenueAtRisk, ""))
			}
		}
		if more := d.Total - SlackDigestEntries; more > 0 {
			fmt.Fprintf(&b, "\n_and %d more_", more)
		}
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(b.String(), slackSectionMax)}})
	}
	if len(d.Fates) > 0 {
		var fates []string
		for _, f := range slices.Sorted(maps.Keys(d.Fates)) {
			fates = append(fates, fmt.Sprintf("%s %d", f, d.Fates[f]))
		}
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn",
			Text: truncate("*Outcomes since the last digest*: "+strings.Join(fates, ", "), slackSectionMax)}})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{mrkdwn("digest " + DigestID(*d))}})
	body, err := json.Marshal(slackMessage{Text: escape(headline + " · " + summary), Blocks: blocks})
	if err != nil {
		return nil, fmt.Errorf("slack message for the digest of %q: %w", d.Owner, err)
	}
	return body, nil
}

// idList writes customer ids for Slack, escaped, at most ten of them.
func idList(ids []string) string {
	const shown = 10
	out := make([]string, 0, min(len(ids), shown))
	for _, id := range ids[:min(len(ids), shown)] {
		out = append(out, escape(truncate(id, 80)))
	}
	s := strings.Join(out, ", ")
	if len(ids) > shown {
		s += fmt.Sprintf(" and %d more", len(ids)-shown)
	}
	return s
}
