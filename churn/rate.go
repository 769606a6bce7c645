package churn

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
)

// Rate is a ratio of a report: NaN where its denominator is zero, written
// as null in JSON and "-" in text. JSON rounds it to six decimals.
type Rate float64

// MarshalJSON writes r rounded to six decimals, or null.
func (r Rate) MarshalJSON() ([]byte, error) {
	if !r.Valid() {
		return []byte("null"), nil
	}
	f := float64(r)
	if math.Abs(f) < 1e9 { // beyond, rounding would overflow and a rate is no longer one
		f = math.Round(f*1e6) / 1e6
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON reads a number, or null as NaN.
func (r *Rate) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*r = Rate(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("churn: rate %.20q: %w", b, err)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("churn: rate %.20q: not a finite number", b)
	}
	*r = Rate(f)
	return nil
}

// Valid reports whether r is defined.
func (r Rate) Valid() bool { return !math.IsNaN(float64(r)) && !math.IsInf(float64(r), 0) }

// Percent is r as a percentage with two decimals ("4.17%"), "-" when
// undefined.
func (r Rate) Percent() string {
	if !r.Valid() {
		return "-"
	}
	return strconv.FormatFloat(float64(r)*100, 'f', 2, 64) + "%"
}

func (r Rate) String() string { return r.Percent() }
