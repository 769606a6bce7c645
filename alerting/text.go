package alerting

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Text renders a for a terminal, as riskd --demo and riskctl alerts tail
// print it: one headline, the three largest reasons and the first step of
// the playbook.
func Text(a *Alert) string {
	var b strings.Builder
	icon := severityStyle[severityOf(a)].icon
	name := a.Customer
	if a.Name != "" && a.Name != a.Customer {
		name = fmt.Sprintf("%s (%s)", a.Name, a.Customer)
	}
	fmt.Fprintf(&b, "%s %-9s %-9s %s  score %.0f→%.0f", icon, strings.ToUpper(severityOf(a)), a.Type, name, a.PreviousScore, a.Score)
	if c := Chance(a.Probability, a.HorizonDays); c != "" {
		b.WriteString(" (" + c + ")")
	}
	owner := a.Owner
	if owner == "" {
		owner = Unassigned
	}
	fmt.Fprintf(&b, "  owner %s", owner)
	if a.ARR > 0 {
		fmt.Fprintf(&b, "  ARR %s  at risk %s", Money(a.ARR, a.Currency), Money(a.RevenueAtRisk, a.Currency))
	}
	if a.DaysToRenewal != nil {
		fmt.Fprintf(&b, "  renews in %dd", *a.DaysToRenewal)
	}
	fmt.Fprintf(&b, "  [%s]\n", a.Time.Format(time.DateOnly))
	for i, r := range a.Reasons {
		if i == 3 {
			break
		}
		fmt.Fprintf(&b, "     · %-26s +%4.1f  %s\n", r.Rule, r.Contribution, r.Detail)
	}
	if len(a.Playbook) > 0 {
		fmt.Fprintf(&b, "     → %s\n", a.Playbook[0])
	}
	return b.String()
}

// Money rounds to whole units, groups thousands and names the currency:
// "120,000 EUR", or "$120,000" when the profile gives no currency.
func Money(v float64, currency string) string {
	if currency == "" {
		if v <= -0.5 {
			return "-$" + Thousands(-v)
		}
		return "$" + Thousands(v)
	}
	return Thousands(v) + " " + currency
}

// Thousands rounds v to a whole number and groups its thousands: 1234567
// is "1,234,567".
func Thousands(v float64) string {
	s := strconv.FormatFloat(math.Abs(math.Round(v)), 'f', 0, 64)
	var b strings.Builder
	if v <= -0.5 {
		b.WriteByte('-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
