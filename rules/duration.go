package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads the durations of rule files: Go durations ("36h",
// "90m", "1h30m") and days with a d suffix ("14d", "1.5d"), optionally
// followed by a Go duration ("1d12h"). Half-lives are naturally counted in
// days, which time.ParseDuration does not know.
func ParseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. 14d, 36h or 90m", s)
		}
		return d, nil
	}
	if days == "" || strings.Trim(days, "0123456789.") != "" {
		return 0, fmt.Errorf("duration %q: want a number of days before d, e.g. 14d", s)
	}
	n, err := strconv.ParseFloat(days, 64)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a number of days before d, e.g. 14d", s)
	}
	if n*24 >= float64(math.MaxInt64)/float64(time.Hour) {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	d := time.Duration(n * 24 * float64(time.Hour))
	if rest != "" {
		extra, err := time.ParseDuration(rest)
		if err != nil || extra < 0 {
			return 0, fmt.Errorf("duration %q: after the days, want a Go duration such as 12h", s)
		}
		if d > math.MaxInt64-extra {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		d += extra
	}
	return d, nil
}

// formatDuration writes whole days as "14d" so that messages echo the way
// rule files spell half-lives.
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
