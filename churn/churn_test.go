package churn

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// base is a small customer base whose every figure is worked out by hand
// in the tests below.
//
//	a  smb  adoption  100  seen 2025-12-10, stays
//	b  smb  adoption  200  seen 2025-12-15, lost 2026-01-20
//	c  ent  onboard.   50  new 2026-01-05, lost 2026-01-25 (new and lost in January)
//	d  ent  renewal   300  seen 2025-11-01, lost 2026-02-01T00:00 (on the boundary: February's)
//	e  -    -         400  new 2026-02-01T00:00 (on the boundary: February's)
//	f  smb  renewal  1000  seen 2025-10-01, down to 600 on 2026-01-10, up to 700 on
//	                       2026-02-10, lost 2026-03-05
func base() []Customer {
	return []Customer{
		{ID: "a", Segment: "smb", Stage: "adoption", ARR: 100, First: at("2025-12-10T09:00:00Z"),
			Probability: 0.5, HasProbability: true},
		{ID: "b", Segment: "smb", Stage: "adoption", ARR: 200, First: at("2025-12-15T09:00:00Z"),
			Churned: at("2026-01-20T12:00:00Z"), Probability: 0.9, HasProbability: true},
		{ID: "c", Segment: "ent", Stage: "onboarding", ARR: 50, First: at("2026-01-05T09:00:00Z"),
			Churned: at("2026-01-25T12:00:00Z")},
		{ID: "d", Segment: "ent", Stage: "renewal", ARR: 300, First: at("2025-11-01T09:00:00Z"),
			Churned: at("2026-02-01T00:00:00Z")},
		{ID: "e", ARR: 400, First: at("2026-02-01T00:00:00Z"), Probability: 0.2, HasProbability: true},
		{ID: "f", Segment: "smb", Stage: "renewal", ARR: 1000, First: at("2025-10-01T09:00:00Z"),
			Changes: []Change{{Time: at("2026-02-10T00:00:00Z"), ARR: 700}, {Time: at("2026-01-10T00:00:00Z"), ARR: 600}},
			Churned: at("2026-03-05T12:00:00Z"), Probability: 0.7, HasProbability: true},
		{ID: "never seen", ARR: 5000},
	}
}

var asOf = at("2026-03-15T00:00:00Z")

func compute(t *testing.T, by By) *Report {
	t.Helper()
	r, err := Compute(base(), Config{By: by, From: at("2026-01-01T00:00:00Z"), AsOf: asOf,
		Horizon: 90 * day, Source: "test"})
	require.NoError(t, err)
	return r
}

func row(t *testing.T, r *Report, period, group, value string) Row {
	t.Helper()
	for _, p := range r.Periods {
		if p.Label != period {
			continue
		}
		for _, row := range p.Rows {
			if row.Group == group && row.Value == value {
				return row
			}
		}
	}
	t.Fatalf("no row %s %s %s", period, group, value)
	return Row{}
}

func TestCounts(t *testing.T) {
	r := compute(t, Month)
	assert.Equal(t, 6, r.Customers, "a customer never seen is not one")
	var labels []string
	for _, p := range r.Periods {
		labels = append(labels, p.Label)
		assert.Equal(t, p.Label == "2026-03", p.Open, p.Label)
	}
	assert.Equal(t, []string{"2026-01", "2026-02", "2026-03"}, labels, "from January to the period of as-of")

	for _, tc := range []struct {
		name                           string
		period, group, value           string
		start, new, lost, lostNew, end int
		simple, adjusted               float64
	}{
		// a b d f at the start; c new; b and c lost, c new: simple 1/4,
		// adjusted 2 / ((4+3)/2).
		{"january", "2026-01", GroupAll, "", 4, 1, 2, 1, 3, 0.25, 2 / 3.5},
		// d lost at 00:00 on the 1st: at February's start and lost in it;
		// e first seen at 00:00 on the 1st: new in February.
		{"boundary", "2026-02", GroupAll, "", 3, 1, 1, 0, 3, 1.0 / 3, 1.0 / 3},
		{"open period to date", "2026-03", GroupAll, "", 3, 0, 1, 0, 2, 1.0 / 3, 1 / 2.5},
		// c is new and lost: in adjusted, not in simple.
		{"new and lost", "2026-01", GroupSegment, "ent", 1, 1, 1, 1, 1, 0, 1},
		{"segment", "2026-01", GroupSegment, "smb", 3, 0, 1, 0, 2, 1.0 / 3, 1 / 2.5},
		{"stage", "2026-02", GroupStage, "renewal", 2, 0, 1, 0, 1, 0.5, 1 / 1.5},
		{"no segment", "2026-02", GroupSegment, None, 0, 1, 0, 0, 1, math.NaN(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := row(t, r, tc.period, tc.group, tc.value)
			assert.Equal(t, []int{tc.start, tc.new, tc.lost, tc.lostNew, tc.end},
				[]int{got.Start, got.New, got.Lost, got.LostNew, got.End}, "start, new, lost, lost new, end")
			assertRate(t, tc.simple, got.Simple, "simple")
			assertRate(t, tc.adjusted, got.Adjusted, "adjusted")
		})
	}
}

func assertRate(t *testing.T, want float64, got Rate, what string) {
	t.Helper()
	if math.IsNaN(want) {
		assert.False(t, got.Valid(), "%s: want undefined, got %v", what, float64(got))
		return
	}
	assert.InDelta(t, want, float64(got), 1e-9, what)
}

func TestRevenue(t *testing.T) {
	r := compute(t, Month)
	for _, tc := range []struct {
		name                                  string
		period, group, value                  string
		arrStart, churned, downgraded, expand float64
		revenue, net                          float64
	}{
		// a 100 + b 200 + d 300 + f 1000; b leaves with 200, f drops 400.
		{"january", "2026-01", GroupAll, "", 1600, 200, 400, 0, 600.0 / 1600, 600.0 / 1600},
		// a 100 + d 300 + f 600; d leaves with 300, f grows 100.
		{"february", "2026-02", GroupAll, "", 1000, 300, 0, 100, 0.3, 0.2},
		// a 100 + e 400 + f 700; f leaves with its ARR of then, 700.
		{"march", "2026-03", GroupAll, "", 1200, 700, 0, 0, 700.0 / 1200, 700.0 / 1200},
		// ARR weighting: one customer of three lost, 1/3 of customers, but
		// 200 + 400 of 1300.
		{"weighted", "2026-01", GroupSegment, "smb", 1300, 200, 400, 0, 600.0 / 1300, 600.0 / 1300},
		// c's ARR is no part of it: it was not there at the start.
		{"new excluded", "2026-01", GroupSegment, "ent", 300, 0, 0, 0, 0, 0},
		{"nothing at the start", "2026-01", GroupSegment, None, 0, 0, 0, 0, math.NaN(), math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := row(t, r, tc.period, tc.group, tc.value)
			assert.Equal(t, []float64{tc.arrStart, tc.churned, tc.downgraded, tc.expand},
				[]float64{got.ARRStart, got.ARRChurned, got.ARRDowngraded, got.ARRExpanded})
			assertRate(t, tc.revenue, got.Revenue, "revenue")
			assertRate(t, tc.net, got.NetRevenue, "net revenue")
		})
	}
}

func TestQuarter(t *testing.T) {
	r := compute(t, Quarter)
	require.Len(t, r.Periods, 1)
	assert.Equal(t, "2026-Q1", r.Periods[0].Label)
	got := row(t, r, "2026-Q1", GroupAll, "")
	// a b d f at the start, c e new, b c d f lost (c new), a e at the end.
	assert.Equal(t, []int{4, 2, 4, 1, 2}, []int{got.Start, got.New, got.Lost, got.LostNew, got.End})
	assertRate(t, 0.75, got.Simple, "simple")
	assertRate(t, 4/3.0, got.Adjusted, "adjusted")
	// f's downgrade, expansion and churn add up to the 1000 it started with.
	assert.Equal(t, []float64{1600, 200 + 300 + 700, 400, 100},
		[]float64{got.ARRStart, got.ARRChurned, got.ARRDowngraded, got.ARRExpanded})
	assertRate(t, 1, got.Revenue, "revenue")
	assertRate(t, 1500.0/1600, got.NetRevenue, "net revenue")
}

func TestPredictive(t *testing.T) {
	r := compute(t, Month)
	assert.Equal(t, 90.0, r.HorizonDays)
	for _, p := range r.Periods[:2] {
		for _, row := range p.Rows {
			assert.Nil(t, row.Predictive, "closed period %s has no prediction", p.Label)
		}
	}
	got := row(t, r, "2026-03", GroupAll, "").Predictive
	require.NotNil(t, got)
	// a (0.5) and e (0.2); b and f have a probability but are lost by
	// as-of, c and d have none.
	assert.Equal(t, 2, got.Customers)
	da, de := 0.007672053737056483, 0.0024763016863216247 // 1-(1-p)^(1/90)
	assert.InDelta(t, da+de, got.ExpectedPerDay, 1e-12)
	assertRate(t, (da+de)/2, got.DailyRate, "daily rate")
	// March has 31 days; 17 remain after the 15th.
	assert.InDelta(t, 0.2863698152310018, got.ExpectedLosses, 1e-9) // (1-0.5^(31/90)) + (1-0.8^(31/90))
	assert.InDelta(t, (1-math.Pow(0.5, 17.0/90))+(1-math.Pow(0.8, 17.0/90)), got.ExpectedRemaining, 1e-9)
	assertRate(t, got.ExpectedLosses/2, got.Rate, "rate")

	seg := row(t, r, "2026-03", GroupSegment, "ent").Predictive
	require.NotNil(t, seg)
	assert.Equal(t, 0, seg.Customers)
	assertRate(t, math.NaN(), seg.DailyRate, "no customer with a probability")

	r, err := Compute(base(), Config{AsOf: asOf})
	require.NoError(t, err)
	for _, p := range r.Periods {
		assert.Nil(t, p.Rows[0].Predictive, "no horizon, no prediction")
	}
}

func TestDaily(t *testing.T) {
	for _, tc := range []struct{ p, days, want float64 }{
		{0.5, 1, 0.5},
		{0, 90, 0},
		{-0.1, 90, 0},
		{1, 90, 1},
		{2, 90, 1},
		{0.75, 2, 0.5},
		{0.5, 90, 0.007672053737056483},
	} {
		assert.InDelta(t, tc.want, Daily(tc.p, tc.days), 1e-12, "Daily(%v, %v)", tc.p, tc.days)
	}
	for _, p := range []float64{0.01, 0.3, 0.99} {
		assert.InDelta(t, p, 1-math.Pow(1-Daily(p, 90), 90), 1e-12, "compounds back to %v", p)
	}
}

func TestBounds(t *testing.T) {
	r, err := Compute(nil, Config{})
	require.NoError(t, err)
	assert.Empty(t, r.Periods, "no customers, no periods")

	r, err = Compute(base(), Config{To: at("2030-01-01T00:00:00Z")})
	require.NoError(t, err)
	assert.Equal(t, "2025-10", r.Periods[0].Label, "from the earliest first seen")
	assert.Equal(t, "2026-03", r.Periods[len(r.Periods)-1].Label, "to the latest time in the input, never after")
	assert.True(t, r.Periods[len(r.Periods)-1].Open)

	_, err = Compute(base(), Config{From: at("2026-03-01T00:00:00Z"), To: at("2026-01-01T00:00:00Z")})
	assert.Error(t, err)
	_, err = Compute(base(), Config{By: "week"})
	assert.Error(t, err)

	// A churn recorded before the first signal counts at the first.
	r, err = Compute([]Customer{{ID: "x", First: at("2026-01-10T00:00:00Z"), Churned: at("2025-12-01T00:00:00Z")}}, Config{})
	require.NoError(t, err)
	got := r.Periods[0].Rows[0]
	assert.Equal(t, []int{0, 1, 1, 1, 0}, []int{got.Start, got.New, got.Lost, got.LostNew, got.End})
	assertRate(t, math.NaN(), got.Simple, "no one at the start")
	assertRate(t, math.NaN(), got.Adjusted, "no one at the start or the end")
}

func TestParseBy(t *testing.T) {
	for in, want := range map[string]By{"": Month, "month": Month, "quarter": Quarter} {
		got, err := ParseBy(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := ParseBy("year")
	assert.ErrorContains(t, err, "want month or quarter")
}

func TestRateJSON(t *testing.T) {
	b, err := json.Marshal([]Rate{0.1234567, Rate(math.NaN()), Rate(math.Inf(1)), 0})
	require.NoError(t, err)
	assert.Equal(t, "[0.123457,null,null,0]", string(b))
	var back []Rate
	require.NoError(t, json.Unmarshal(b, &back))
	assert.InDelta(t, 0.123457, float64(back[0]), 1e-12)
	assert.False(t, back[1].Valid(), "null reads back as undefined, not 0")
	assert.Equal(t, Rate(0), back[3])
	assert.Error(t, json.Unmarshal([]byte(`["x"]`), &back))
	assert.Equal(t, "12.35%", Rate(0.12345).Percent())
	assert.Equal(t, "-", Rate(math.NaN()).Percent())
}

func FuzzRateJSON(f *testing.F) {
	for _, s := range []string{"0", "null", "0.25", "-1e-7", "1e308", `"x"`, "NaN", "Infinity"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Rate
		if err := r.UnmarshalJSON(b); err != nil {
			return
		}
		out, err := r.MarshalJSON()
		require.NoError(t, err)
		var back Rate
		require.NoError(t, back.UnmarshalJSON(out), "%s written as %s", b, out)
		if r.Valid() {
			assert.InDelta(t, float64(r), float64(back), math.Max(1e-6, math.Abs(float64(r))*1e-12))
		} else {
			assert.False(t, back.Valid())
		}
	})
}

func TestThousands(t *testing.T) {
	for f, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -2500: "-2,500", -0.4: "0"} {
		assert.Equal(t, want, thousands(f), "%v", f)
	}
}

func TestGolden(t *testing.T) {
	r := compute(t, Month)
	var text, js, csv bytes.Buffer
	require.NoError(t, WriteText(&text, r))
	enc := json.NewEncoder(&js)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(r))
	require.NoError(t, WriteCSV(&csv, r))
	for name, got := range map[string][]byte{"report.txt": text.Bytes(), "report.json": js.Bytes(), "report.csv": csv.Bytes()} {
		path := filepath.Join("testdata", name)
		if *update {
			require.NoError(t, os.MkdirAll("testdata", 0o755))
			require.NoError(t, os.WriteFile(path, got, 0o644))
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run with -update to create it")
		assert.Equal(t, string(want), string(got), "%s differs; rerun with -update if the change is intended", name)
	}
	var back Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	assert.Equal(t, len(r.Periods), len(back.Periods), "the JSON reads back")
	assert.False(t, row(t, &back, "2026-01", GroupSegment, None).Simple.Valid(), "null reads back as undefined")
}

func TestPeriodBounds(t *testing.T) {
	r, err := Compute(base(), Config{From: at("1990-01-01T00:00:00Z"), AsOf: asOf})
	require.NoError(t, err)
	assert.Equal(t, "2025-10", r.Periods[0].Label, "nothing before the first customer")

	for _, tc := range []struct {
		from, to string
		by       By
		want     int
	}{
		{"2026-01-31T00:00:00Z", "2026-01-01T00:00:00Z", Month, 1},
		{"2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z", Month, 2},
		{"2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z", Quarter, 2},
		{"2026-01-01T00:00:00Z", "2026-03-31T00:00:00Z", Quarter, 1},
		{"2025-01-15T00:00:00Z", "2026-12-01T00:00:00Z", Quarter, 8},
	} {
		assert.Equal(t, tc.want, periods(at(tc.from), at(tc.to), tc.by), "%s to %s by %s", tc.from, tc.to, tc.by)
	}

	far := []Customer{{ID: "old", First: at("1900-01-01T00:00:00Z")}, {ID: "new", First: at("2026-01-01T00:00:00Z")}}
	_, err = Compute(far, Config{})
	assert.ErrorContains(t, err, "more than 1200")
	r, err = Compute(far, Config{From: at("2025-01-01T00:00:00Z")})
	require.NoError(t, err, "from narrows it")
	assert.Len(t, r.Periods, 13)
}

func BenchmarkCompute(b *testing.B) {
	// 100,000 customers over two years, three segments and four stages.
	cs := make([]Customer, 100_000)
	t0 := at("2025-01-01T00:00:00Z")
	for i := range cs {
		c := &cs[i]
		c.ID, c.Segment, c.Stage, c.ARR = "c", []string{"smb", "mid", "ent"}[i%3], []string{"a", "b", "c", ""}[i%4], float64(1000+i%5000)
		c.First = t0.Add(time.Duration(i%500) * day)
		if i%7 == 0 {
			c.Churned = c.First.Add(time.Duration(30+i%200) * day)
		}
		c.Probability, c.HasProbability = float64(i%100)/100, true
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compute(cs, Config{AsOf: at("2026-12-15T00:00:00Z"), Horizon: 90 * day}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTimeZones(t *testing.T) {
	// 2026-01-31 23:30 in New York is 2026-02-01 04:30 UTC: February's.
	ny := time.FixedZone("EST", -5*3600)
	cs := []Customer{{ID: "x", First: time.Date(2026, 1, 31, 23, 30, 0, 0, ny)}}
	r, err := Compute(cs, Config{To: time.Date(2026, 2, 28, 20, 0, 0, 0, ny)})
	require.NoError(t, err)
	require.Len(t, r.Periods, 1)
	assert.Equal(t, "2026-02", r.Periods[0].Label)
	assert.Equal(t, 1, r.Periods[0].Rows[0].New)
}
