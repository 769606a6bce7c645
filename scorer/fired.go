package scorer

import "math/bits"

// Firing is the committed history of one rule: the day boundaries it
// fired at. At is the latest; bit i of Mask says it fired i days before
// At (bit 0, At itself, is always set); Prior is the latest firing older
// than the 64 days of Mask, 0 when none. The days are kept so that a
// signal of a producer that trails the others (a help desk backfilled
// after the product usage) can revise the history: the firings after its
// day are dropped and evaluated again with it.
type Firing struct {
	Rule  string `json:"r"`
	At    int64  `json:"t"`
	Mask  uint64 `json:"m,omitempty"`
	Prior int64  `json:"p,omitempty"`
}

// add records a firing at boundary d.
func (f *Firing) add(d int64) {
	switch {
	case f.At == 0:
		f.At, f.Mask = d, 1
	case d <= f.At:
		if i := (f.At - d) / day; i < 64 {
			f.Mask |= 1 << i
		} else {
			f.Prior = max(f.Prior, d)
		}
	default:
		shift := (d - f.At) / day
		if shift >= 64 {
			f.Prior = f.At
			f.Mask = 0
		} else if lost := f.Mask >> (64 - shift); lost != 0 {
			// The latest of the days that leave the mask.
			f.Prior = f.At - (64-shift+int64(bits.TrailingZeros64(lost)))*day
		}
		f.Mask = f.Mask<<shift | 1
		f.At = d
	}
}

// asOf is the latest firing at or before t, 0 when none.
func (f *Firing) asOf(t int64) int64 {
	if f.At <= t {
		return f.At
	}
	s := (f.At - t + day - 1) / day
	if s < 64 {
		if rest := f.Mask >> s; rest != 0 {
			return f.At - (s+int64(bits.TrailingZeros64(rest)))*day
		}
	}
	if f.Prior <= t {
		return f.Prior
	}
	return 0
}

// rollback forgets the firings after boundary b; At is 0 when none is
// left.
func (f *Firing) rollback(b int64) {
	if f.At <= b {
		return
	}
	switch at := f.asOf(b); {
	case at == 0:
		*f = Firing{Rule: f.Rule}
	case at == f.Prior: // none left in the mask
		f.At, f.Mask, f.Prior = at, 1, 0
	default:
		f.Mask >>= (f.At - at) / day
		f.At = at
	}
}

// fired is the latest committed firing of rule, 0 when none.
func (st *State) fired(rule string) int64 {
	for i := range st.Fired {
		if st.Fired[i].Rule == rule {
			return st.Fired[i].At
		}
	}
	return 0
}

// firedAsOf is the latest committed firing of rule at or before t.
func (st *State) firedAsOf(rule string, t int64) int64 {
	for i := range st.Fired {
		if st.Fired[i].Rule == rule {
			return st.Fired[i].asOf(t)
		}
	}
	return 0
}

func (st *State) setFired(rule string, at int64) {
	for i := range st.Fired {
		if st.Fired[i].Rule == rule {
			st.Fired[i].add(at)
			return
		}
	}
	st.Fired = append(st.Fired, Firing{Rule: rule, At: at, Mask: 1})
}

// closedTier is the tier the customer ended its last closed day in.
func (st *State) closedTier() uint64 { return st.ClosedTiers & 3 }
