package rules

import "fmt"

// Tier is a band of the risk score. Order matters: a higher tier is worse.
type Tier uint8

const (
	Healthy Tier = iota
	Watch
	AtRisk
	Critical
)

var tierNames = [...]string{"healthy", "watch", "at_risk", "critical"}

func (t Tier) String() string {
	if int(t) < len(tierNames) {
		return tierNames[t]
	}
	return fmt.Sprintf("tier(%d)", uint8(t))
}

// ParseTier is the inverse of Tier.String.
func ParseTier(s string) (Tier, error) {
	for i, n := range tierNames {
		if n == s {
			return Tier(i), nil
		}
	}
	return 0, fmt.Errorf("unknown tier %q (want healthy, watch, at_risk or critical)", s)
}

func (t Tier) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t *Tier) UnmarshalText(b []byte) error {
	v, err := ParseTier(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Thresholds are the lower bounds of the tiers above healthy, and the
// hysteresis: a score must fall this many points below a bound to leave the
// tier, so a score wobbling on a boundary does not flap.
type Thresholds struct {
	Watch      float64 `yaml:"watch" json:"watch"`
	AtRisk     float64 `yaml:"at_risk" json:"at_risk"`
	Critical   float64 `yaml:"critical" json:"critical"`
	Hysteresis float64 `yaml:"hysteresis" json:"hysteresis"`
}

// DefaultThresholds are the design's bands: healthy < 40 ≤ watch < 60 ≤
// at_risk < 80 ≤ critical, hysteresis 5.
var DefaultThresholds = Thresholds{Watch: 40, AtRisk: 60, Critical: 80, Hysteresis: 5}

// Classify gives the tier of score for a customer that was in prev. Going up
// takes the bound itself; going down takes the bound minus the hysteresis.
func (th Thresholds) Classify(score float64, prev Tier) Tier {
	bounds := [...]float64{0, th.Watch, th.AtRisk, th.Critical}
	up := Healthy
	for t := Critical; t > Healthy; t-- {
		if score >= bounds[t] {
			up = t
			break
		}
	}
	if up >= prev {
		return up
	}
	// Falling: stay in prev while within the hysteresis band of its bound.
	t := prev
	for t > up && score < bounds[t]-th.Hysteresis {
		t--
	}
	return t
}

// Validate reports thresholds that are out of order or out of range.
func (th Thresholds) Validate() error {
	switch {
	case th.Watch <= 0 || th.Watch > 100:
		return fmt.Errorf("tiers.watch %v must be in (0, 100]", th.Watch)
	case th.AtRisk <= th.Watch || th.AtRisk > 100:
		return fmt.Errorf("tiers.at_risk %v must be above watch %v and at most 100", th.AtRisk, th.Watch)
	case th.Critical <= th.AtRisk || th.Critical > 100:
		return fmt.Errorf("tiers.critical %v must be above at_risk %v and at most 100", th.Critical, th.AtRisk)
	case th.Hysteresis < 0 || th.Hysteresis >= th.Watch:
		return fmt.Errorf("tiers.hysteresis %v must be in [0, watch)", th.Hysteresis)
	}
	return nil
}
