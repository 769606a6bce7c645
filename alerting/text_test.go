package alerting

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTextGolden(t *testing.T) {
	golden(t, "text_at_risk.golden", []byte(Text(atRiskAlert(t))))
}

func TestTextWithoutProfile(t *testing.T) {
	a := &Alert{ID: "abc", Type: Resolved, Customer: "c-1", Score: 12, PreviousScore: 66, Time: t0}
	assert.Equal(t, "🟢 RESOLVED  resolved  c-1  score 66→12  owner unassigned  ["+t0.Format("2006-01-02")+"]\n", Text(a))
}

func TestChance(t *testing.T) {
	for _, tc := range []struct {
		p, days float64
		want    string
	}{
		{0.18, 90, "18% chance of churn within 90 days"},
		{0.4813, 90, "48% chance of churn within 90 days"},
		{0.004, 90, "<1% chance of churn within 90 days"},
		{0, 90, "0% chance of churn within 90 days"},
		{0.996, 30, ">99% chance of churn within 30 days"},
		{1, 30, "100% chance of churn within 30 days"},
		{0.5, 7.5, "50% chance of churn within 7.5 days"},
		{0.5, 0, ""},
	} {
		assert.Equal(t, tc.want, Chance(tc.p, tc.days), "p %v, %v days", tc.p, tc.days)
	}
}

func TestMoney(t *testing.T) {
	for _, tc := range []struct {
		v        float64
		currency string
		want     string
	}{
		{0, "", "$0"},
		{999.4, "", "$999"},
		{999.5, "", "$1,000"},
		{1234567, "EUR", "1,234,567 EUR"},
		{-1500, "", "-$1,500"},
		{-1500, "CHF", "-1,500 CHF"},
		{-0.4, "", "$0"},
	} {
		assert.Equal(t, tc.want, Money(tc.v, tc.currency), "%v %q", tc.v, tc.currency)
	}
	assert.Equal(t, "12,345", Thousands(12345.2))
}
