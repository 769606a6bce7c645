package signals

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Line is one non-blank line of a signal file: a signal envelope, a
// profile line ({"profile": {...}}), or a line rejected with the reason.
type Line struct {
	// No is the 1-based line number.
	No int
	// Raw is the line without its line break. It is only valid until the
	// next call to Next.
	Raw     []byte
	Signal  *Signal
	Profile *Profile
	// ProfileRaw is the profile object of a profile line, as written.
	ProfileRaw []byte
	// Err is why the line is rejected: a *Error.
	Err error
}

// LineReader reads a signal file: newline-delimited JSON, one signal envelope
// per line (the wire format), or a profile line {"profile": {...}}.
// Blank lines are skipped. A line longer than the envelope limit is
// rejected as oversize without being held in memory.
type LineReader struct {
	r      *bufio.Reader
	no     int
	offset int64
	now    time.Time
}

// NewLineReader reads from r. Event times are checked against now, as the
// engine checks them against its clock; a zero now skips the far-future
// check.
func NewLineReader(r io.Reader, now time.Time) *LineReader {
	// The buffer holds the longest acceptable line and its \r\n.
	return &LineReader{r: bufio.NewReaderSize(r, MaxEnvelope+2), now: now}
}

// Offset is how many bytes were consumed so far, for progress reports.
func (r *LineReader) Offset() int64 { return r.offset }

// Next returns the next non-blank line, or io.EOF at the end of the input.
// Other errors are read errors of the underlying reader.
func (r *LineReader) Next() (Line, error) {
	for {
		raw, err := r.r.ReadSlice('\n')
		r.offset += int64(len(raw))
		if errors.Is(err, bufio.ErrBufferFull) {
			r.no++
			n, err := r.discardLine()
			if err != nil && !errors.Is(err, io.EOF) {
				return Line{}, fmt.Errorf("line %d: %w", r.no, err)
			}
			return Line{No: r.no, Err: &Error{Reason: ReasonOversize,
				Msg: fmt.Sprintf("the line is over %d bytes, the limit is %d", len(raw)+n, MaxEnvelope)}}, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Line{}, fmt.Errorf("line %d: %w", r.no+1, err)
		}
		if len(raw) == 0 && errors.Is(err, io.EOF) {
			return Line{}, io.EOF
		}
		r.no++
		line := bytes.TrimRight(raw, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			if errors.Is(err, io.EOF) {
				return Line{}, io.EOF
			}
			continue
		}
		return ParseLine(r.no, line, r.now), nil
	}
}

// discardLine skips the rest of an over-long line.
func (r *LineReader) discardLine() (int, error) {
	n := 0
	for {
		chunk, err := r.r.ReadSlice('\n')
		n += len(chunk)
		r.offset += int64(len(chunk))
		if !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
	}
}

// profileLine is the shape of a profile line.
type profileLine struct {
	Profile json.RawMessage `json:"profile"`
}

// ParseLine decodes one line: a profile line when it has a "profile" key,
// else a signal envelope validated as the engine validates it.
func ParseLine(no int, line []byte, now time.Time) Line {
	l := Line{No: no, Raw: line}
	if bytes.Contains(line, []byte(`"profile"`)) {
		var pl profileLine
		if json.Unmarshal(line, &pl) == nil && len(pl.Profile) > 0 && !bytes.Equal(pl.Profile, []byte("null")) {
			p, err := DecodeProfile("", pl.Profile)
			if err != nil {
				l.Err = err
				return l
			}
			l.Profile, l.ProfileRaw = &p, pl.Profile
			return l
		}
	}
	s, err := Decode("", line, now)
	if err != nil {
		l.Err = err
		return l
	}
	l.Signal = &s
	return l
}
