package push

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func p(f float64) *float64 { return &f }

func TestChanged(t *testing.T) {
	base := Record{Customer: "a", Score: 50, Tier: "watch", Probability: p(0.30)}
	tests := []struct {
		name string
		last *Record
		cur  Record
		want bool
	}{
		{"never pushed", nil, base, true},
		{"same", &base, base, false},
		{"score moved 4.9", &base, Record{Customer: "a", Score: 54.9, Tier: "watch", Probability: p(0.30)}, false},
		{"score moved 5", &base, Record{Customer: "a", Score: 45, Tier: "watch", Probability: p(0.30)}, true},
		{"tier changed", &base, Record{Customer: "a", Score: 51, Tier: "at_risk", Probability: p(0.30)}, true},
		{"probability moved 0.04", &base, Record{Customer: "a", Score: 50, Tier: "watch", Probability: p(0.34)}, false},
		{"probability moved 0.06", &base, Record{Customer: "a", Score: 50, Tier: "watch", Probability: p(0.24)}, true},
		{"probability gone", &base, Record{Customer: "a", Score: 50, Tier: "watch"}, true},
		{"reasons alone", &base, Record{Customer: "a", Score: 50, Tier: "watch", Probability: p(0.30), Reasons: "x +1"}, false},
	}
	for _, tt := range tests {
		if got := Changed(tt.last, tt.cur, DefaultThresholds); got != tt.want {
			t.Errorf("%s: Changed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func view() api.CustomerView {
	return api.CustomerView{Customer: "acme-corp", Score: 78.46, Tier: rules.AtRisk, Probability: 0.48126, HorizonDays: 90,
		Reasons: []scorer.Contribution{
			{Rule: "usage-drop", Contribution: 8},
			{Rule: "ticket-spike", Contribution: 22},
			{Rule: "nps-detractor", Contribution: -3},
			{Rule: "champion-lost", Contribution: 20},
			{Rule: "renewal-near", Contribution: 5},
		}}
}

func TestFromView(t *testing.T) {
	r := FromView(view())
	if r.Score != 78.5 || r.Tier != "at_risk" || r.Probability == nil || *r.Probability != 0.4813 {
		t.Fatalf("record %+v", r)
	}
	if want := "ticket-spike +22; champion-lost +20; usage-drop +8"; r.Reasons != want {
		t.Fatalf("reasons %q, want %q", r.Reasons, want)
	}
	v := view()
	v.HorizonDays = 0
	if FromView(v).Probability != nil {
		t.Fatal("a view without a horizon has no probability")
	}
}

var destinations = map[string]Destination{
	TypeGainsight: {Type: TypeGainsight, BaseURL: "https://acme.gainsightcloud.com", Token: "gs-key", KeyField: "ExternalId__gc"},
	TypeVitally:   {Type: TypeVitally, Token: "sk_live_vitally"},
	TypeChurnZero: {Type: TypeChurnZero, BaseURL: "https://acme.app.churnzero.net", Token: "cz-appkey"},
	TypeHubSpot:   {Type: TypeHubSpot, Token: "pat-na1-hubspot", KeyField: "riskwatch_id"},
}

// TestBuildGolden pins each vendor's requests for two customers: method,
// URL, headers and body.
func TestBuildGolden(t *testing.T) {
	recs := []Record{FromView(view()), {Customer: "beta/inc", Score: 12, Tier: "healthy"}}
	for _, typ := range Types {
		t.Run(typ, func(t *testing.T) {
			d := destinations[typ]
			if err := d.Check(); err != nil {
				t.Fatal(err)
			}
			reqs, err := d.Build(recs)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			for _, r := range reqs {
				keys := make([]string, 0, len(r.Header))
				for k := range r.Header {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL)
				for _, k := range keys {
					fmt.Fprintf(&b, "%s: %s\n", k, r.Header.Get(k))
				}
				fmt.Fprintf(&b, "customers: %s\n%s\n\n", strings.Join(r.Customers, ","), r.Body)
			}
			golden(t, typ+".golden", b.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", name, got, want)
	}
}

func TestBatches(t *testing.T) {
	recs := make([]Record, 120)
	for i := range recs {
		recs[i] = Record{Customer: fmt.Sprintf("c%d", i), Score: 1, Tier: "healthy"}
	}
	want := map[string]int{TypeGainsight: 3, TypeVitally: 120, TypeChurnZero: 360, TypeHubSpot: 2}
	for typ, n := range want {
		reqs, err := destinations[typ].Build(recs)
		if err != nil {
			t.Fatal(err)
		}
		if len(reqs) != n {
			t.Errorf("%s: %d requests for 120 customers, want %d", typ, len(reqs), n)
		}
	}
}

func TestCheck(t *testing.T) {
	bad := []Destination{
		{Type: "salesforce", Token: "x"},
		{Type: TypeGainsight, BaseURL: "https://x", Token: "x"},
		{Type: TypeChurnZero, Token: "x"},
		{Type: TypeVitally},
		{Type: TypeVitally, Token: "x", KeyField: "k"},
		{Type: TypeHubSpot, Token: "x", BaseURL: "ftp://x"},
	}
	for _, d := range bad {
		if d.Check() == nil {
			t.Errorf("Check(%+v) passed", d)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{"": 0, "7": 7 * time.Second, "x": 0, "-1": 0,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second}
	for h, want := range tests {
		if got := RetryAfter(h, now); got != want {
			t.Errorf("RetryAfter(%q) = %s, want %s", h, got, want)
		}
	}
}

// FuzzBuild: whatever the customer ids and reasons, every vendor's
// requests are built, carry every customer, and JSON bodies parse.
func FuzzBuild(f *testing.F) {
	f.Add("acme-corp", "ticket-spike +22", 50.5, 0.3)
	f.Add("a/b?c=d&e", "\xff\x00", -1.0, 2.0)
	f.Fuzz(func(t *testing.T, cust, reasons string, score, prob float64) {
		if cust == "" || score != score || prob != prob || score > 1e300 || score < -1e300 || prob > 1e300 || prob < -1e300 {
			return // the engine gives neither empty ids nor NaN nor infinities
		}
		r := Record{Customer: cust, Score: score, Tier: "watch", Probability: &prob, Reasons: truncate(reasons, MaxReasons)}
		for _, typ := range Types {
			reqs, err := destinations[typ].Build([]Record{r})
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			for _, q := range reqs {
				if len(q.Customers) != 1 || q.Customers[0] != cust {
					t.Fatalf("%s: customers %q", typ, q.Customers)
				}
				if _, err := url.Parse(q.URL); err != nil {
					t.Fatalf("%s: URL %q: %v", typ, q.URL, err)
				}
				if q.Header.Get("Content-Type") == "application/json" && !json.Valid(q.Body) {
					t.Fatalf("%s: body %q is not JSON", typ, q.Body)
				}
			}
		}
	})
}
