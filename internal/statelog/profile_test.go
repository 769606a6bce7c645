package statelog

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/signals"
)

// appendProfileV1 is the version 1 layout, without parent and team, as
// riskd wrote it before them.
func appendProfileV1(p *signals.Profile) []byte {
	b := []byte{profileBinaryV1}
	for _, s := range [...]string{p.ID, p.Name, p.Currency, p.RenewalDate, p.Segment, p.Owner, p.Plan, p.Stage} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(p.ARR))
}

func TestProfileCodecKeepsParentAndTeamAndReadsVersion1(t *testing.T) {
	p := signals.Profile{ID: "acme-emea", Name: "Acme EMEA", ARR: 50000, Currency: "EUR", RenewalDate: "2027-01-15",
		Segment: "enterprise", Owner: "alice", Plan: "pro", Stage: "renewal", Parent: "acme", Team: "emea-cs"}
	p.Intern()
	got, err := decodeProfile(appendProfile(nil, &p))
	require.NoError(t, err)
	assert.Equal(t, p, *got)

	old := p
	old.Parent, old.Team = "", ""
	old.Intern()
	got, err = decodeProfile(appendProfileV1(&old))
	require.NoError(t, err, "a checkpoint of an older riskd")
	assert.Equal(t, old, *got)

	for name, data := range map[string][]byte{
		"trailing byte":       append(appendProfile(nil, &p), 0),
		"version 1 with more": append(appendProfileV1(&old), 0),
		"cut in the team":     appendProfile(nil, &p)[:len(appendProfile(nil, &p))-1],
		"unknown version":     append([]byte{3}, appendProfile(nil, &p)[1:]...),
	} {
		_, err := decodeProfile(data)
		assert.Error(t, err, name)
	}
}

func FuzzDecodeProfile(f *testing.F) {
	p := signals.Profile{ID: "a", Owner: "alice", ARR: 10, Parent: "b", Team: "t"}
	f.Add(appendProfile(nil, &p))
	f.Add(appendProfileV1(&p))
	f.Add([]byte{profileBinary})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeProfile(data)
		if err != nil {
			return
		}
		require.NoError(t, got.Validate())
		again, err := decodeProfile(appendProfile(nil, got))
		require.NoError(t, err)
		assert.Equal(t, got, again)
	})
}
