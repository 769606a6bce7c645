package statelog

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/signals"
)

func TestCommitCarriesTheProducersClocks(t *testing.T) {
	var clock book.Clock
	clock.Watermark, clock.LastSweep, clock.LastDigest = 1_790_000_000, 1_789_990_000, 20_717
	clock.Producers[signals.KindTicket.Index()] = book.Producer{Latest: 1_789_000_000, Clock: 1_789_500_000, Gap: 600, Live: true}
	body, err := json.Marshal(CommitOf(42, clock))
	require.NoError(t, err)
	assert.Contains(t, string(body), `"producers":{"ticket":{`)
	var back Commit
	require.NoError(t, json.Unmarshal(body, &back))
	assert.Equal(t, uint64(42), back.Seq)
	assert.Equal(t, clock, back.Clock())
}

func TestACommitWithoutProducersHearsThemAtItsWatermark(t *testing.T) {
	var c Commit
	require.NoError(t, json.Unmarshal([]byte(`{"seq":7,"watermark":1790000000,"last_sweep":1789990000,"last_digest":20717,"time":"2026-09-21T12:00:00Z"}`), &c))
	k := c.Clock()
	for i, p := range k.Producers {
		assert.Equal(t, book.Producer{Latest: 1_790_000_000, Clock: 1_790_000_000, Gap: 86400}, p, signals.Kinds[i])
	}
	assert.Equal(t, book.Clock{}, Commit{}.Clock(), "an empty log: nothing heard")
}
