package engine

import (
	"errors"
	"strconv"
	"strings"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/internal/statelog"
)

// Partition is the part of the input an engine owns. The zero value is
// all of it: RISK_SIGNALS read whole, the state log riskd always wrote.
// With Count > 1, the engine reads partition Index of RISK_PARTITIONS,
// where NATS files every customer's messages under risk.p.<index>.
type Partition struct {
	Index, Count int
	// Epoch is the owner's lease: the state log's chunks carry it, and a
	// commit is fenced by the last one it read.
	Epoch uint64
	// Held reports whether the lease is still certainly held; nil: always.
	// The engine checks it before every chunk and stops once it fails.
	Held func() bool
}

// ErrLeaseLost ends Run when the partition's lease was lost: nothing more
// was applied, and no checkpoint written.
var ErrLeaseLost = errors.New("the partition's lease was lost")

// partitioned reports whether p is one of several.
func (p Partition) partitioned() bool { return p.Count > 1 }

// Prefix is where the partition's copy of a producer's subject lives:
// "risk.p.3." for "risk.", so that "risk.actions.acme" is filed as
// "risk.p.3.actions.acme".
func (p Partition) Prefix() string {
	if !p.partitioned() {
		return "risk."
	}
	return api.PartitionPrefix + strconv.Itoa(p.Index) + "."
}

// Subject is subject (a producer's, under "risk.") as the partition's
// stream files it.
func (p Partition) Subject(subject string) string {
	return p.Prefix() + strings.TrimPrefix(subject, "risk.")
}

// defaultDurable is the consumer's name unless Config.Durable says
// otherwise.
const defaultDurable = "riskd"

// Consumer is the stream and the durable consumer the engine of p reads
// (with the default name): RISK_SIGNALS' riskd, or RISK_PARTITIONS'
// riskd-p<n>.
func (p Partition) Consumer() (stream, durable string) {
	n := p.names(defaultDurable)
	return n.stream, n.durable
}

// names are what a partition reads and writes.
type names struct {
	stream  string // the stream consumed
	filter  string // its subjects this engine reads; "" for all
	strip   string // the prefix taken off subjects before decoding
	durable string // the consumer's name
	tick    string // where ticks go
	tickID  string // the prefix of a tick's message id
	digest  string // added to digest ids
	state   statelog.Part
}

func (p Partition) names(durable string) names {
	if !p.partitioned() {
		return names{stream: api.SignalsStream, durable: durable, tick: book.ClockSubject, tickID: "tick-",
			state: statelog.PartOf(0, 1, p.Epoch)}
	}
	i := strconv.Itoa(p.Index)
	return names{stream: api.PartitionsStream, filter: p.Prefix() + ">", strip: p.Prefix(),
		durable: durable + "-p" + i, tick: p.Subject(book.ClockSubject), tickID: "tick-p" + i + "-",
		digest: "-p" + i, state: statelog.PartOf(p.Index, p.Count, p.Epoch)}
}
