package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/riskwatch/riskwatch/signals"
)

// lineSource is where a file send reads its lines from: one file, or
// several merged.
type lineSource interface {
	Next() (signals.Line, error)
	// Offset is how many bytes were read so far, for the progress line.
	Offset() int64
	// Source names the file the last line came from.
	Source() string
}

// oneFile is a lineSource of a single file.
type oneFile struct {
	*signals.LineReader
	name string
}

func (f oneFile) Source() string { return f.name }

// merged reads several signal files as one stream in event-time order.
// Each file is taken to be in time order itself, as one system's export
// is, and the earliest next signal of any file goes first (the earlier
// file on a tie). Profile lines, and lines that are rejected, go as soon
// as they are at the head of their file: a profile before the signals
// that follow it. Only the next line of each file is held.
type merged struct {
	names   []string
	readers []*signals.LineReader
	heads   []signals.Line
	open    []bool
	// next is the file whose head was handed out last: it is read on only
	// at the next call, as a line's bytes are valid until then.
	next    int
	started bool
}

func newMerged(names []string, readers []*signals.LineReader) *merged {
	return &merged{names: names, readers: readers, heads: make([]signals.Line, len(readers)),
		open: make([]bool, len(readers)), next: -1}
}

func (m *merged) advance(i int) error {
	l, err := m.readers[i].Next()
	switch {
	case errors.Is(err, io.EOF):
		m.open[i] = false
		return nil
	case err != nil:
		return fmt.Errorf("read %s: %w", displayName(m.names[i]), err)
	}
	m.heads[i], m.open[i] = l, true
	return nil
}

// Next returns the next line of the merged stream, io.EOF after the last.
func (m *merged) Next() (signals.Line, error) {
	if !m.started {
		m.started = true
		for i := range m.readers {
			if err := m.advance(i); err != nil {
				return signals.Line{}, err
			}
		}
	} else if m.next >= 0 {
		if err := m.advance(m.next); err != nil {
			return signals.Line{}, err
		}
	}
	m.next = -1
	for i, open := range m.open {
		if !open {
			continue
		}
		h := &m.heads[i]
		if h.Signal == nil { // a profile or a rejected line: at once
			m.next = i
			break
		}
		if m.next < 0 || h.Signal.Time.Before(m.heads[m.next].Signal.Time) {
			m.next = i
		}
	}
	if m.next < 0 {
		return signals.Line{}, io.EOF
	}
	return m.heads[m.next], nil
}

func (m *merged) Offset() int64 {
	var n int64
	for _, r := range m.readers {
		n += r.Offset()
	}
	return n
}

func (m *merged) Source() string {
	if m.next < 0 {
		return ""
	}
	return m.names[m.next]
}
