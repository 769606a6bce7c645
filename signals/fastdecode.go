package signals

import (
	"math"
	"strconv"
)

// The fast path. Nearly every signal a producer sends has the same plain
// shape: the six envelope keys spelled as in the contract, each once,
// strings without escapes, and for usage and tickets (the bulk of the
// traffic) a payload of known keys with plain numbers. encoding/json spends
// most of its time on what such input never needs (reflection, case-folded
// key matching, a separate validation pass), three to four microseconds a
// signal, which is more than the rest of the engine's work on one.
//
// The fast path decodes exactly that shape and nothing else. On anything
// it does not handle — an escape, an unknown or repeated key, a key in
// another case, null, a number with a fraction where an integer goes,
// trailing bytes — it gives up and Decode takes the encoding/json path,
// which also produces every rejection. So it never decides what is valid:
// whenever it succeeds, encoding/json would have produced the same values
// (FuzzFastDecodeMatchesSlow checks this against the slow path).

// fastDecode switches the fast path; tests turn it off to compare.
var fastDecode = true

// scan is a cursor over JSON input.
type scan struct {
	b []byte
	i int
}

func (s *scan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// lit consumes c after optional whitespace.
func (s *scan) lit(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string with no escapes and no control characters, returning
// its bytes (which alias the input).
func (s *scan) str() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// number reads a JSON number, returning its text; integer reports that it
// has neither a fraction nor an exponent.
func (s *scan) number() (text []byte, integer, ok bool) {
	s.ws()
	start := s.i
	j := s.i
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	switch {
	case j < len(s.b) && s.b[j] == '0':
		j++
	case j < len(s.b) && s.b[j] >= '1' && s.b[j] <= '9':
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
	default:
		return nil, false, false
	}
	integer = true
	if j < len(s.b) && s.b[j] == '.' {
		integer = false
		j++
		d := j
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
		if j == d {
			return nil, false, false
		}
	}
	if j < len(s.b) && (s.b[j] == 'e' || s.b[j] == 'E') {
		integer = false
		j++
		if j < len(s.b) && (s.b[j] == '+' || s.b[j] == '-') {
			j++
		}
		d := j
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
		if j == d {
			return nil, false, false
		}
	}
	s.i = j
	return s.b[start:j], integer, true
}

// int64 reads an integer that fits int64, as encoding/json stores it in
// an int64 field.
func (s *scan) int64() (int64, bool) {
	text, integer, ok := s.number()
	if !ok || !integer {
		return 0, false
	}
	v, err := strconv.ParseInt(string(text), 10, 64)
	return v, err == nil
}

// float64 reads a number as encoding/json stores it in a float64 field.
func (s *scan) float64() (float64, bool) {
	text, _, ok := s.number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(text), 64)
	return v, err == nil && !math.IsInf(v, 0)
}

// maxSkipDepth bounds the nesting the fast path skips over; deeper input
// goes to encoding/json, which has its own bound and error.
const maxSkipDepth = 32

// skip consumes one JSON value of any type, validating it as strictly as
// encoding/json does; ok is false on anything invalid or too deep.
func (s *scan) skip(depth int) bool {
	s.ws()
	if s.i >= len(s.b) || depth > maxSkipDepth {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.skipString()
	case c == '{':
		s.i++
		if s.lit('}') {
			return true
		}
		for {
			if !s.skipStringAt() || !s.lit(':') || !s.skip(depth+1) {
				return false
			}
			if s.lit('}') {
				return true
			}
			if !s.lit(',') {
				return false
			}
		}
	case c == '[':
		s.i++
		if s.lit(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if s.lit(']') {
				return true
			}
			if !s.lit(',') {
				return false
			}
		}
	case c == 't':
		return s.word("true")
	case c == 'f':
		return s.word("false")
	case c == 'n':
		return s.word("null")
	default:
		_, _, ok := s.number()
		return ok
	}
}

func (s *scan) word(w string) bool {
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return true
	}
	return false
}

func (s *scan) skipStringAt() bool {
	s.ws()
	return s.i < len(s.b) && s.b[s.i] == '"' && s.skipString()
}

// skipString consumes a string that may hold escapes, checking them. The
// input is already known to be valid UTF-8.
func (s *scan) skipString() bool {
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			j++
			if j >= len(s.b) {
				return false
			}
			switch s.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s.b) {
					return false
				}
				for _, h := range s.b[j+1 : j+5] {
					if !isHex(h) {
						return false
					}
				}
				j += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// object walks a JSON object whose keys are all in keys (each at most
// once), calling field with each key's index; field consumes the value.
func (s *scan) object(keys []string, field func(k int) bool) bool {
	if !s.lit('{') {
		return false
	}
	if s.lit('}') {
		return true
	}
	var seen uint32
	for {
		name, ok := s.str()
		if !ok || !s.lit(':') {
			return false
		}
		k := -1
		for i, key := range keys {
			if string(name) == key {
				k = i
				break
			}
		}
		if k < 0 || seen&(1<<k) != 0 || !field(k) {
			return false
		}
		seen |= 1 << k
		if s.lit('}') {
			return true
		}
		if !s.lit(',') {
			return false
		}
	}
}

// end reports whether only whitespace is left.
func (s *scan) end() bool {
	s.ws()
	return s.i == len(s.b)
}

var envelopeKeys = []string{"id", "kind", "customer", "time", "source", "data"}

// fastEnvelope decodes the envelope of the plain shape; see the top of
// this file.
func fastEnvelope(data []byte) (envelope, bool) {
	var env envelope
	s := scan{b: data}
	ok := s.object(envelopeKeys, func(k int) bool {
		if k == 5 {
			s.ws()
			start := s.i // encoding/json's RawMessage starts at the value too
			if s.i >= len(s.b) || s.b[s.i] != '{' {
				return false // null, or not an object: the slow path says what
			}
			if !s.skip(0) {
				return false
			}
			env.Data = s.b[start:s.i]
			return true
		}
		v, ok := s.str()
		if !ok {
			return false
		}
		switch k {
		case 0:
			env.ID = string(v)
		case 1:
			env.Kind = kindString(v)
		case 2:
			env.Customer = string(v)
		case 3:
			env.Time = string(v)
		case 4:
			env.Source = string(v)
		}
		return true
	})
	return env, ok && s.end()
}

// kindString returns the constant for a known kind, sparing an allocation.
func kindString(v []byte) string {
	for _, k := range Kinds {
		if string(v) == string(k) {
			return string(k)
		}
	}
	return string(v)
}

var usageKeys = []string{"events", "user", "active_users"}

// fastUsage decodes a usage payload of the plain shape into w.
func fastUsage(data []byte, w *usageWire) bool {
	s := scan{b: data}
	ok := s.object(usageKeys, func(k int) bool {
		switch k {
		case 0:
			v, ok := s.int64()
			w.Events = &v
			return ok
		case 1:
			v, ok := s.str()
			w.User = string(v)
			return ok
		default:
			v, ok := s.int64()
			w.ActiveUsers = v
			return ok
		}
	})
	return ok && s.end()
}

var ticketKeys = []string{"ticket_id", "status", "priority", "first_response_minutes"}

// fastTicket decodes a ticket payload of the plain shape into t.
func fastTicket(data []byte, t *Ticket) bool {
	s := scan{b: data}
	ok := s.object(ticketKeys, func(k int) bool {
		if k == 3 {
			v, ok := s.float64()
			t.FirstResponseMinutes = &v
			return ok
		}
		v, ok := s.str()
		switch k {
		case 0:
			t.TicketID = string(v)
		case 1:
			t.Status = string(v)
		default:
			t.Priority = string(v)
		}
		return ok
	})
	return ok && s.end()
}
