package scorer

import (
	"hash/maphash"

	"github.com/riskwatch/riskwatch/rules"
)

// ruleMemo is what Evaluate remembers of a customer's last rule
// evaluation: which rules fired, for features with this fingerprint. Rule
// outcomes are a pure function of the features, and most signals (another
// usage event on a day that already had some) leave every feature as it
// was, so the next evaluation can take the outcomes from here instead of
// running every condition again. It is a cache, not state: it is not
// checkpointed, a restored customer starts without one, and a result is
// the same with or without it.
type ruleMemo struct {
	key   [2]uint64 // fingerprints of the features under the model's seeds; zero: none
	fired uint64    // bit i: rule i of the set fired
}

// maxMemoRules is how many rules a memo has bits for; larger sets are
// evaluated every time.
const maxMemoRules = 64

// memoKey fingerprints f under both of the model's seeds. The seeds are
// the model's own, so a memo made under another rule set never matches.
func (m *Model) memoKey(f *rules.Features) [2]uint64 {
	var k [2]uint64
	k[0], k[1] = f.Fingerprint(m.seeds[0], m.seeds[1])
	if k == ([2]uint64{}) {
		k[0] = 1 // zero means no memo
	}
	return k
}

func newSeeds() [2]maphash.Seed { return [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()} }
