package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/internal/replay"
	"github.com/riskwatch/riskwatch/signals"
)

var sendCmd = &command{
	name:    "send",
	args:    "[flags] [-f FILE | FILE | - | --merge FILE FILE...]",
	summary: "publish signals (and profiles) from flags, a JSON file or NDJSON on stdin",
	help: `Publishes signals to risk.signals.<kind>.<customer-token> through
JetStream, with the signal id as Nats-Msg-Id so that a retry is dropped as
a duplicate. The subject token is computed from the customer id.

One signal from flags: --kind and --customer, with --data for the payload.
Without --time the signal is stamped now; without --id an id is generated
(and a retry will then not be recognised as a duplicate).

Many signals from a file (-f FILE, or FILE) or stdin (-): newline-delimited
JSON, one signal envelope per line, the format of 'riskctl replay'. A line
{"profile": {...}} publishes a customer profile. A file holding a single
JSON object or a JSON array of them works too.

With --merge, several files (exports of different systems: the warehouse's
usage, the help desk's tickets, the survey tool's answers) are published as
one stream in event-time order. Each file must be in time order itself; the
earliest next signal of any file goes first, and profile lines go as they
come. riskd does not need this: it judges lateness per producer (signal
kind), so exports sent one after another end in the same scores. A merged
send is still kinder to it: no closed day is evaluated twice, and alerts are
raised in the order things happened.

Every line is validated like riskd validates it before anything is
published; rejected lines are reported with their file, line number and
reason, the rest are published. Exits 1 if any line was rejected.`,
	example: `riskctl send --kind ticket --customer acme-corp --id zd-88412-opened \
  --time 2026-11-20T10:04:00Z --data '{"ticket_id":"88412","status":"opened","priority":"urgent"}'
riskctl send -f signal.json
zcat export.ndjson.gz | riskctl send - --progress
riskctl send --merge usage.ndjson tickets.ndjson nps.ndjson`,
	run: runSend,
}

// sendReport is the --json output of a file send.
type sendReport struct {
	Published  int             `json:"published"`
	Profiles   int             `json:"profiles"`
	Duplicates int             `json:"duplicates"`
	Rejected   []replay.Reject `json:"rejected"`
}

type sendOpts struct {
	conn        *connOpts
	asJSON      bool
	progress    bool
	maxInFlight int
}

func runSend(e *env, c *command, args []string) int {
	fs := e.flags(c)
	o := sendOpts{conn: e.connFlags(fs)}
	kind := fs.String("kind", "", "signal kind: "+kindNames())
	customer := fs.String("customer", "", "customer id")
	id := fs.String("id", "", "signal id, the idempotency key (default: generated)")
	at := fs.String("time", "", "event time, RFC 3339 (default: now)")
	source := fs.String("source", "riskctl", "the signal's source")
	data := fs.String("data", "{}", "the payload: a JSON object")
	file := fs.String("f", "", "read signals from `FILE` (- for stdin)")
	merge := fs.Bool("merge", false, "publish several files as one stream in event-time order")
	fs.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&o.progress, "progress", false, "show a progress line on stderr even when it is not a terminal")
	fs.IntVar(&o.maxInFlight, "max-in-flight", 256, "publishes awaiting acknowledgement at most")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if *file != "" {
		pos = append(pos, *file)
	}
	fromFlags := *kind != "" || *customer != ""
	switch {
	case fromFlags && len(pos) > 0:
		return e.usageError(c, "give either --kind/--customer or a file, not both")
	case !fromFlags && len(pos) == 0:
		return e.usageError(c, "give --kind and --customer, or a file (- for stdin)")
	case *merge && len(pos) < 2:
		return e.usageError(c, "--merge takes two files or more")
	case *merge && slices.Contains(pos, "-"):
		return e.usageError(c, "--merge reads files, not stdin")
	case !*merge && len(pos) > 1:
		return e.usageError(c, "one file at a time, or --merge to publish several in event-time order")
	case o.maxInFlight < 1:
		return e.usageError(c, "--max-in-flight must be at least 1")
	}
	if fromFlags {
		return e.sendOne(c, o, *kind, *customer, *id, *at, *source, *data)
	}
	return e.sendFiles(c, o, pos)
}

func kindNames() string {
	var b bytes.Buffer
	for i, k := range signals.Kinds {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(k))
	}
	return b.String()
}

func (e *env) sendOne(c *command, o sendOpts, kind, customer, id, at, source, data string) int {
	if kind == "" || customer == "" {
		return e.usageError(c, "--kind and --customer are both required")
	}
	if !json.Valid([]byte(data)) {
		return e.usageError(c, "--data is not valid JSON: want an object such as '{\"events\":3}'")
	}
	if id == "" {
		id = "riskctl-" + randomHex(8)
		fmt.Fprintf(e.stderr, "riskctl send: no --id given; using %s (a retry will not be recognised as a duplicate)\n", id)
	}
	if at == "" {
		at = e.now().UTC().Format(time.RFC3339)
	}
	env := map[string]any{"id": id, "kind": kind, "customer": customer, "time": at, "source": source,
		"data": json.RawMessage(data)}
	body, err := json.Marshal(env)
	if err != nil {
		return e.fail(c, err)
	}
	s, err := signals.Decode("", body, e.now())
	if err != nil {
		return e.fail(c, fmt.Errorf("rejected: %w", err))
	}
	nc, err := o.conn.connect()
	if err != nil {
		return e.fail(c, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return e.fail(c, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.conn.timeout)
	defer cancel()
	subject := signals.Subject(s.Kind, s.Customer)
	ack, err := js.Publish(ctx, subject, body, jetstream.WithMsgID(s.ID))
	if err != nil {
		return e.fail(c, publishError(subject, err))
	}
	if o.asJSON {
		rep := sendReport{Published: 1, Rejected: []replay.Reject{}}
		if ack.Duplicate {
			rep.Published, rep.Duplicates = 0, 1
		}
		if err := writeJSON(e.stdout, rep); err != nil {
			return e.fail(c, err)
		}
		return exitOK
	}
	if ack.Duplicate {
		fmt.Fprintf(e.stdout, "duplicate: signal %s is already in stream %s; JetStream dropped this copy\n", s.ID, ack.Stream)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "published %s to %s (stream %s, sequence %d)\n", s.ID, subject, ack.Stream, ack.Sequence)
	return exitOK
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func publishError(subject string, err error) error {
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("publish to %s: no stream stores it: is riskd running against this NATS? (%w)", subject, err)
	}
	return fmt.Errorf("publish to %s: %w", subject, err)
}

// sendFiles publishes every valid line of names ("-" for stdin), of
// several merged in event-time order.
func (e *env) sendFiles(c *command, o sendOpts, names []string) int {
	var total int64
	readers := make([]*signals.LineReader, len(names))
	for i, name := range names {
		in, size, closeIn, err := e.openLines(name)
		if err != nil {
			return e.fail(c, err)
		}
		defer closeIn()
		total += size
		readers[i] = signals.NewLineReader(in, e.now())
	}
	var rd lineSource = oneFile{readers[0], names[0]}
	if len(names) > 1 {
		rd = newMerged(names, readers)
	}
	nc, err := o.conn.connect()
	if err != nil {
		return e.fail(c, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(o.maxInFlight))
	if err != nil {
		return e.fail(c, err)
	}
	rep := sendReport{Rejected: []replay.Reject{}}
	prog := newProgress(e.stderr, o.progress)
	pending := pendingAcks{timeout: o.conn.timeout}
	lines := 0
	var failure error
	for failure == nil {
		l, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			failure = fmt.Errorf("read %s: %w", rd.Source(), err)
			break
		}
		lines++
		var msg *nats.Msg
		switch {
		case l.Err != nil:
			r := replay.Reject{Line: l.No, Reason: string(signals.ReasonOf(l.Err)), Error: l.Err.Error()}
			if len(names) > 1 {
				r.File = rd.Source()
			}
			rep.Rejected = append(rep.Rejected, r)
			if !o.asJSON {
				prog.finish()
				fmt.Fprintf(e.stderr, "%s:%d: rejected: %s\n", displayName(rd.Source()), r.Line, r.Error)
			}
			continue
		case l.Profile != nil:
			msg = profileMsg(&l)
			rep.Profiles++
		default:
			msg = signalMsg(&l)
			rep.Published++
		}
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			failure = fmt.Errorf("%s:%d: %w", displayName(rd.Source()), l.No, publishError(msg.Subject, err))
			break
		}
		pending.list = append(pending.list, inflight{rd.Source(), l.No, f})
		if len(pending.list) >= o.maxInFlight {
			failure = pending.settle(&rep)
		}
		prog.update(rd.Offset(), total, false, "%s lines, %s rejected", alerting.Thousands(float64(lines)), alerting.Thousands(float64(len(rep.Rejected))))
	}
	if failure == nil {
		failure = pending.settle(&rep)
	}
	prog.update(rd.Offset(), total, true, "%s lines, %s rejected", alerting.Thousands(float64(lines)), alerting.Thousands(float64(len(rep.Rejected))))
	prog.finish()
	rep.Published -= rep.Duplicates
	if failure != nil {
		return e.fail(c, failure)
	}
	return e.reportSend(c, o, rep)
}

// openLines is openInput for sendFile: a file holding one JSON object or
// array comes back as the lines of NDJSON it stands for.
func (e *env) openLines(name string) (io.Reader, int64, func(), error) {
	in, total, closeIn, err := e.openInput(name)
	if err != nil {
		return nil, 0, nil, err
	}
	// A file holding one JSON object or array is not NDJSON; turn it into
	// lines so that it goes the same way.
	if name != "-" && total > 0 && total <= 16<<20 {
		data, err := io.ReadAll(in)
		if err != nil {
			closeIn()
			return nil, 0, nil, fmt.Errorf("read %s: %w", name, err)
		}
		in = bytes.NewReader(asLines(data))
	}
	return in, total, closeIn, nil
}

// profileMsg publishes the profile of l.
func profileMsg(l *signals.Line) *nats.Msg {
	msg := nats.NewMsg(signals.CustomerPrefix + signals.SubjectToken(l.Profile.ID))
	msg.Data = bytes.Clone(l.ProfileRaw)
	return msg
}

// signalMsg publishes the signal of l, with its id for JetStream to drop
// duplicates.
func signalMsg(l *signals.Line) *nats.Msg {
	msg := nats.NewMsg(signals.Subject(l.Signal.Kind, l.Signal.Customer))
	msg.Data = bytes.Clone(l.Raw)
	msg.Header.Set(jetstream.MsgIDHeader, l.Signal.ID)
	return msg
}

// inflight is a publish of a file's line awaiting its acknowledgement.
type inflight struct {
	file string
	line int
	f    jetstream.PubAckFuture
}

// pendingAcks are the publishes of a send that are not acknowledged yet.
type pendingAcks struct {
	timeout time.Duration
	list    []inflight
}

// settle waits for every pending acknowledgement, counting the duplicates
// in rep, and stops at the first publish that failed or went unanswered.
func (p *pendingAcks) settle(rep *sendReport) error {
	for _, pf := range p.list {
		select {
		case ack := <-pf.f.Ok():
			if ack.Duplicate {
				rep.Duplicates++
			}
		case err := <-pf.f.Err():
			return fmt.Errorf("%s:%d: %w", displayName(pf.file), pf.line, publishError(pf.f.Msg().Subject, err))
		case <-time.After(p.timeout):
			return fmt.Errorf("%s:%d: no acknowledgement within %s", displayName(pf.file), pf.line, p.timeout)
		}
	}
	p.list = p.list[:0]
	return nil
}

// reportSend prints the outcome of a file send and gives the exit code:
// failure when any line was rejected.
func (e *env) reportSend(c *command, o sendOpts, rep sendReport) int {
	if o.asJSON {
		if err := writeJSON(e.stdout, rep); err != nil {
			return e.fail(c, err)
		}
	} else {
		fmt.Fprintf(e.stdout, "published %d signals and %d profiles; %d duplicates dropped; %d lines rejected\n",
			rep.Published, rep.Profiles, rep.Duplicates, len(rep.Rejected))
	}
	if len(rep.Rejected) > 0 {
		return exitFail
	}
	return exitOK
}

// openInput opens a file, or stdin for "-", and tells its size when known.
func (e *env) openInput(name string) (io.Reader, int64, func(), error) {
	if name == "-" {
		return e.stdin, 0, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("open signal file: %w", err)
	}
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return f, size, func() { _ = f.Close() }, nil
}

func displayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// asLines turns a file holding one JSON object, or an array of them, into
// NDJSON; any other content is returned unchanged.
func asLines(data []byte) []byte {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return data
	}
	var items []json.RawMessage
	switch trimmed[0] {
	case '{':
		items = []json.RawMessage{trimmed}
	case '[':
		if json.Unmarshal(trimmed, &items) != nil {
			return data
		}
	default:
		return data
	}
	var out bytes.Buffer
	for _, it := range items {
		if err := json.Compact(&out, it); err != nil {
			return data
		}
		out.WriteByte('\n')
	}
	return out.Bytes()
}
