package book

import (
	"slices"
	"strings"

	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// peerDays is how many days of a segment's usage the book keeps: the
// longest window a usage feature reads (84 days before today) and some.
const peerDays = 96

// maxSegments bounds the segments whose usage the book sums: the segment
// is a profile's free text, and every one costs a ring. Customers of
// segments beyond it are judged without their segment's figures.
const maxSegments = 256

// peers sums the usage of each segment's customers by day, for the usage
// features that judge a customer against its segment over the same days
// (scorer.Peers). It holds the usage received so far: a producer sending
// in event time across customers (one rollup after another, as usage
// pipelines do) gives every replay the same figures; one exporting a
// customer at a time gives its first customers thinner figures than its
// last.
//
// It counts every usage signal of the stream once, in stream order, even
// one a customer's restored record covers or its state refuses (late, a
// duplicate id): a function of the stream, it is checkpointed with the
// commit (Book.Peers) and a restart from it scores the replayed messages
// with the figures the uninterrupted run had.
type peers struct {
	segments map[string]*peerRing
}

// peerRing is one segment's usage, a counter a day up to top; first is
// the first day it has counted.
type peerRing struct {
	top, first int32
	c          [peerDays]float64
}

func newPeers() *peers { return &peers{segments: map[string]*peerRing{}} }

// add counts events of usage of a customer of segment on day.
func (p *peers) add(segment string, day int32, events float64) {
	r := p.segments[segment]
	if r == nil {
		if len(p.segments) >= maxSegments {
			return
		}
		r = &peerRing{top: day, first: day}
		p.segments[segment] = r
	}
	if day > r.top {
		if day-r.top >= peerDays {
			r.c = [peerDays]float64{}
		} else {
			for d := r.top + 1; d <= day; d++ {
				r.c[slot(d)] = 0
			}
		}
		r.top = day
	}
	if day <= r.top-peerDays {
		return
	}
	r.first = min(r.first, day)
	r.c[slot(day)] += events
}

func slot(day int32) int { return int(((day % peerDays) + peerDays) % peerDays) }

// Usage is scorer.Peers: the segment's usage events over the days of
// from..to it has counted, the last days of the range.
func (p *peers) Usage(segment string, from, to int32) (float64, int32) {
	r := p.segments[segment]
	if r == nil {
		return 0, 0
	}
	from = max(from, r.first, r.top-peerDays+1)
	if to < from {
		return 0, 0
	}
	sum := 0.0
	for d := from; d <= to; d++ {
		if d <= r.top {
			sum += r.c[slot(d)]
		}
	}
	return sum, to - from + 1
}

// usage counts a usage signal the model accepted.
func (p *peers) usage(s *signals.Signal, prof *signals.Profile) {
	segment := ""
	if prof != nil {
		segment = prof.Segment
	}
	p.add(segment, int32(s.Time.Unix()/daySeconds), float64(max(s.Usage.Events, 1)))
}

// rebuild sums the segments again from the customers' own usage, which
// covers the days the features read: for a checkpoint without the
// segments' own (InstallPeers). Customers whose records are ahead of the
// checkpoint bring usage the replay has not reached yet.
func (p *peers) rebuild(customers map[string]*Customer) {
	clear(p.segments)
	for _, c := range customers {
		segment := ""
		if c.Profile != nil {
			segment = c.Profile.Segment
		}
		c.Score.UsageDays(func(day int32, events uint64) { p.add(segment, day, float64(events)) })
	}
}

var _ scorer.Peers = (*peers)(nil)

// PeerSegment is one segment's usage as a checkpoint holds it: Events are
// the counters of the days up to Top, the last one Top's.
type PeerSegment struct {
	Segment string    `json:"segment"`
	Top     int32     `json:"top"`
	First   int32     `json:"first"`
	Events  []float64 `json:"events"`
}

// Peers is every segment's usage, sorted by segment, for the checkpoint
// of the book's current sequence.
func (b *Book) Peers() []PeerSegment {
	if len(b.peers.segments) == 0 {
		return nil
	}
	out := make([]PeerSegment, 0, len(b.peers.segments))
	for name, r := range b.peers.segments {
		from := max(r.first, r.top-peerDays+1)
		seg := PeerSegment{Segment: name, Top: r.top, First: r.first, Events: make([]float64, 0, r.top-from+1)}
		for d := from; d <= r.top; d++ {
			seg.Events = append(seg.Events, r.c[slot(d)])
		}
		out = append(out, seg)
	}
	slices.SortFunc(out, func(a, b PeerSegment) int { return strings.Compare(a.Segment, b.Segment) })
	return out
}

// InstallPeers replaces the segments' usage with a checkpoint's (Peers),
// after Install, which sums them from the customers' own usage for a
// checkpoint that holds none.
func (b *Book) InstallPeers(segments []PeerSegment) {
	clear(b.peers.segments)
	for _, seg := range segments {
		if len(b.peers.segments) >= maxSegments {
			break
		}
		r := &peerRing{top: seg.Top, first: seg.First}
		for i, v := range seg.Events {
			if d := seg.Top - int32(len(seg.Events)-1-i); d > seg.Top-peerDays {
				r.c[slot(d)] = v
			}
		}
		b.peers.segments[seg.Segment] = r
	}
}
