package churn

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes r as the tables riskctl churn prints: every period's
// "all" row, then the rows by segment and by stage, then the prediction
// of the open period.
func WriteText(w io.Writer, r *Report) error {
	if len(r.Periods) == 0 {
		_, err := fmt.Fprintf(w, "Churn by %s, as of %s: no customers\n", r.By, r.AsOf.Format(time.DateOnly))
		return err
	}
	first, last := r.Periods[0], r.Periods[len(r.Periods)-1]
	fmt.Fprintf(w, "Churn by %s, %s to %s, as of %s: %s customers\n", r.By, first.Label, last.Label,
		r.AsOf.Format("2006-01-02 15:04 MST"), thousands(float64(r.Customers)))
	fmt.Fprintln(w, "simple = lost of those at the start / start; adjusted = all lost / mean of start and end;")
	fmt.Fprintln(w, "revenue = (churned + downgraded ARR) / ARR at the start; net revenue subtracts expansions.")

	table := func(title, group, col string) error {
		fmt.Fprintf(w, "\n%s\n", title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		head := []string{"PERIOD"}
		if col != "" {
			head = append(head, col)
		}
		head = append(head, "START", "NEW", "LOST", "LOST NEW", "END", "SIMPLE", "ADJUSTED", "ARR START", "REVENUE", "NET REVENUE")
		fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
		for _, p := range r.Periods {
			for _, row := range p.Rows {
				if row.Group != group {
					continue
				}
				cells := []string{periodLabel(p)}
				if col != "" {
					cells = append(cells, row.Value)
				}
				cells = append(cells, strconv.Itoa(row.Start), strconv.Itoa(row.New), strconv.Itoa(row.Lost),
					strconv.Itoa(row.LostNew), strconv.Itoa(row.End), row.Simple.Percent(), row.Adjusted.Percent(),
					thousands(row.ARRStart), row.Revenue.Percent(), row.NetRevenue.Percent())
				fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
			}
		}
		return tw.Flush()
	}
	if err := table("All customers:", GroupAll, ""); err != nil {
		return err
	}
	if last.Open {
		fmt.Fprintf(w, "* open: figures to %s\n", r.AsOf.Format(time.DateOnly))
	}
	if err := table("By segment:", GroupSegment, "SEGMENT"); err != nil {
		return err
	}
	if err := table("By stage:", GroupStage, "STAGE"); err != nil {
		return err
	}
	for _, p := range r.Periods {
		if len(p.Rows) == 0 || p.Rows[0].Predictive == nil {
			continue
		}
		src := ""
		if r.Source != "" {
			src = " (" + r.Source + ")"
		}
		fmt.Fprintf(w, "\nPredicted for %s from the churn probabilities over %s days%s:\n", p.Label,
			strconv.FormatFloat(r.HorizonDays, 'f', -1, 64), src)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "GROUP\tCUSTOMERS\tEXPECTED/DAY\tDAILY RATE\tEXPECTED IN PERIOD\tRATE\tSTILL TO COME\t")
		for _, row := range p.Rows {
			pr := row.Predictive
			name := row.Group
			if row.Value != "" {
				name += " " + row.Value
			}
			fmt.Fprintf(tw, "%s\t%d\t%.3f\t%s\t%.2f\t%s\t%.2f\t\n", name, pr.Customers, pr.ExpectedPerDay,
				dailyPercent(pr.DailyRate), pr.ExpectedLosses, pr.Rate.Percent(), pr.ExpectedRemaining)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// dailyPercent shows a daily rate, small, with four decimals.
func dailyPercent(r Rate) string {
	if !r.Valid() {
		return "-"
	}
	return strconv.FormatFloat(float64(r)*100, 'f', 4, 64) + "%"
}

func periodLabel(p Period) string {
	if p.Open {
		return p.Label + "*"
	}
	return p.Label
}

// csvHeader are the columns of WriteCSV.
var csvHeader = []string{"period", "start_date", "open", "group", "value", "start", "new", "lost", "lost_new", "end",
	"simple", "adjusted", "arr_start", "arr_churned", "arr_downgraded", "arr_expanded", "revenue", "net_revenue",
	"predicted_customers", "expected_per_day", "daily_rate", "expected_losses", "predictive_rate", "expected_remaining"}

// WriteCSV writes r as one row per period and group, rates as fractions
// and empty where undefined: one table a spreadsheet pivots.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	for _, p := range r.Periods {
		for _, row := range p.Rows {
			rec := []string{p.Label, p.Start.Format(time.DateOnly), strconv.FormatBool(p.Open), row.Group, row.Value,
				strconv.Itoa(row.Start), strconv.Itoa(row.New), strconv.Itoa(row.Lost), strconv.Itoa(row.LostNew),
				strconv.Itoa(row.End), csvRate(row.Simple), csvRate(row.Adjusted), csvNum(row.ARRStart),
				csvNum(row.ARRChurned), csvNum(row.ARRDowngraded), csvNum(row.ARRExpanded), csvRate(row.Revenue),
				csvRate(row.NetRevenue)}
			if pr := row.Predictive; pr != nil {
				rec = append(rec, strconv.Itoa(pr.Customers), csvNum(pr.ExpectedPerDay), csvRate(pr.DailyRate),
					csvNum(pr.ExpectedLosses), csvRate(pr.Rate), csvNum(pr.ExpectedRemaining))
			} else {
				rec = append(rec, "", "", "", "", "", "")
			}
			_ = cw.Write(rec)
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvRate(r Rate) string {
	if !r.Valid() {
		return ""
	}
	b, _ := r.MarshalJSON()
	return string(b)
}

func csvNum(f float64) string {
	return strconv.FormatFloat(math.Round(f*1e6)/1e6, 'f', -1, 64)
}

// thousands writes f rounded to a whole number, its digits in groups of three:
// 1234567 is "1,234,567".
func thousands(f float64) string {
	s := strconv.FormatFloat(math.Round(math.Abs(f)), 'f', 0, 64)
	var b strings.Builder
	if f <= -0.5 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
