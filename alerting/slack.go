package alerting

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Slack's limits on block text; longer text makes the whole message fail.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackDetailMax  = 300
)

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

func mrkdwn(s string) slackText { return slackText{Type: "mrkdwn", Text: s} }

var severityStyle = map[string]struct{ icon, label string }{
	"watch":          {"🟡", "Watch"},
	"at_risk":        {"🟠", "At risk"},
	"critical":       {"🔴", "Critical"},
	SeverityResolved: {"🟢", "Resolved"},
}

// PlaybookShown is how many playbook steps a Slack message shows.
const PlaybookShown = 3

// Slack renders a as a Slack incoming-webhook message: a notification
// line in "text" (also what Mattermost and other Slack-compatible tools
// show) and blocks with the customer, the score change, the money, the
// renewal, the top reasons and the playbook. Every value from a profile or
// a rule is escaped, so a customer named "<!channel>" cannot ping a
// channel.
func Slack(a *Alert) ([]byte, error) {
	icon, headline := slackHeadline(a)
	scoreLine := fmt.Sprintf("score %.1f (was %.1f)", a.Score, a.PreviousScore)
	if c := Chance(a.Probability, a.HorizonDays); c != "" {
		scoreLine += ", " + c
	}
	summary := []string{icon + " " + escape(headline), scoreLine}
	if a.ARR > 0 {
		summary = append(summary, "ARR "+escape(Money(a.ARR, a.Currency)))
	}
	if a.RenewalDate != "" {
		summary = append(summary, "renews "+renewal(a))
	}

	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(icon+" "+headline, slackHeaderMax), Emoji: true}},
		slackMain(a),
	}
	if len(a.Reasons) > 0 {
		var b strings.Builder
		b.WriteString("*Why*")
		for _, r := range a.Reasons {
			fmt.Fprintf(&b, "\n• *%+.1f* %s (%s)", r.Contribution, escape(r.Rule), escape(r.Category))
			if r.Detail != "" {
				b.WriteString(": " + escape(truncate(r.Detail, slackDetailMax)))
			}
		}
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(b.String(), slackSectionMax)}})
	}
	if len(a.Playbook) > 0 {
		// The first steps are those of the largest contributions: three
		// are what a person acts on from a notification.
		var b strings.Builder
		b.WriteString("*Playbook*")
		for _, step := range a.Playbook[:min(len(a.Playbook), PlaybookShown)] {
			b.WriteString("\n• " + escape(truncate(step, slackDetailMax)))
		}
		if more := len(a.Playbook) - PlaybookShown; more > 0 {
			fmt.Fprintf(&b, "\n_and %d more in the customer's view_", more)
		}
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(b.String(), slackSectionMax)}})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{
		mrkdwn(fmt.Sprintf("%s · %s · alert %s", a.Type, a.Time.UTC().Format("2006-01-02 15:04 MST"), a.ID)),
	}})

	body, err := json.Marshal(slackMessage{Text: strings.Join(summary, " · "), Blocks: blocks})
	if err != nil {
		return nil, fmt.Errorf("slack message for alert %s: %w", a.ID, err)
	}
	return body, nil
}

// slackHeadline is the icon and the unescaped headline of a's message,
// which say what happened and to whom.
func slackHeadline(a *Alert) (icon, headline string) {
	sev := severityOf(a)
	style, ok := severityStyle[sev]
	if !ok {
		style.icon, style.label = "⚪", sev
	}
	who := a.Name
	if who == "" {
		who = a.Customer
	}
	switch {
	case a.Churned:
		style.icon = "⚫"
		headline = "Churned, alert closed: " + who
	case a.Type == Escalated:
		headline = "Escalated to " + strings.ToLower(style.label) + ": " + who
	case a.Type == Reminder:
		headline = "Still " + strings.ToLower(style.label) + ": " + who
	case a.Type == Unclaimed:
		style.icon = "🚨"
		headline = "Unclaimed " + strings.ToLower(style.label) + " alert: " + who
	default:
		headline = style.label + ": " + who
	}
	return style.icon, headline
}

// slackMain is the block under the header: the score and tier change,
// the owner, and the money and renewal when a's profile has them.
func slackMain(a *Alert) slackBlock {
	var intro strings.Builder
	fmt.Fprintf(&intro, "*Score %.1f* (was %.1f) · tier *%s* (was %s)", a.Score, a.PreviousScore, a.Tier, a.PreviousTier)
	if a.HorizonDays > 0 {
		fmt.Fprintf(&intro, "\n*%s* chance of churn within %s days", Percent(a.Probability), strconv.FormatFloat(a.HorizonDays, 'f', -1, 64))
	}
	owner := a.Owner
	if owner == "" {
		owner = Unassigned
	}
	fmt.Fprintf(&intro, "\nOwner: *%s*", escape(owner))
	if a.Team != "" {
		fmt.Fprintf(&intro, " · Team: %s", escape(a.Team))
	}
	if a.Since != nil {
		fmt.Fprintf(&intro, "\nNobody has acknowledged or snoozed it since %s", a.Since.UTC().Format("2006-01-02 15:04 MST"))
	}
	if a.Segment != "" {
		fmt.Fprintf(&intro, " · Segment: %s", escape(a.Segment))
	}
	if a.Name != "" && a.Name != a.Customer {
		fmt.Fprintf(&intro, " · Customer ID: %s", escape(a.Customer))
	}
	main := slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(intro.String(), slackSectionMax)}}
	if a.ARR > 0 {
		main.Fields = append(main.Fields, mrkdwn("*ARR*\n"+escape(Money(a.ARR, a.Currency))),
			mrkdwn("*Revenue at risk*\n"+escape(Money(a.RevenueAtRisk, a.Currency))))
	}
	if a.RenewalDate != "" {
		main.Fields = append(main.Fields, mrkdwn("*Renewal*\n"+truncate(renewal(a), slackFieldMax)))
	}
	return main
}

// renewal phrases the renewal date with the days left: "2027-01-15 (in 54 days)".
func renewal(a *Alert) string {
	when := "past"
	switch d := a.DaysToRenewal; {
	case d == nil:
	case *d == 0:
		when = "today"
	case *d == 1:
		when = "in 1 day"
	default:
		when = "in " + strconv.FormatInt(*d, 10) + " days"
	}
	return escape(a.RenewalDate) + " (" + when + ")"
}

// escape applies Slack's mrkdwn escaping: only &, < and > are control
// characters, and < starts mentions and links.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
