package fit

import (
	"fmt"
	"math"
	"time"
)

// Split divides the dates (sorted) into those to fit on and those to
// validate on. Validation starts at splitAt, or, when it is zero, at the
// latest share holdout of the dates. A date is fitted on only if its
// horizon ends by the split: its label (churned within the horizon) is
// then known before the validation period starts, and nothing of that
// period leaks into the fit.
func Split(dates []time.Time, horizon time.Duration, splitAt time.Time, holdout float64) (fitIdx, valIdx []int, at time.Time, err error) {
	if len(dates) == 0 {
		return nil, nil, time.Time{}, fmt.Errorf("fit: no dates to split")
	}
	at = splitAt
	if at.IsZero() {
		if holdout <= 0 || holdout >= 1 {
			return nil, nil, time.Time{}, fmt.Errorf("fit: holdout %v must be between 0 and 1", holdout)
		}
		n := max(1, int(math.Ceil(holdout*float64(len(dates)))))
		at = dates[len(dates)-n]
	}
	for i, d := range dates {
		switch {
		case !d.Before(at):
			valIdx = append(valIdx, i)
		case !d.Add(horizon).After(at):
			fitIdx = append(fitIdx, i)
		}
	}
	if len(valIdx) == 0 {
		return nil, nil, at, fmt.Errorf("fit: no date from %s to validate on (the last is %s)",
			at.Format(time.DateOnly), dates[len(dates)-1].Format(time.DateOnly))
	}
	if len(fitIdx) == 0 {
		return nil, nil, at, fmt.Errorf("fit: no date whose %gd horizon ends by %s to fit on (the first is %s): split later, hold out less, or give a longer history",
			horizon.Hours()/24, at.Format(time.DateOnly), dates[0].Format(time.DateOnly))
	}
	return fitIdx, valIdx, at, nil
}
