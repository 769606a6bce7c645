package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws one status line on a terminal, rewritten in place with
// \r, at most ten times a second. It draws nothing unless enabled, so
// output piped to a file or read by a test stays clean.
type progress struct {
	w       io.Writer
	enabled bool
	last    time.Time
	width   int // of the previous line, to blank its leftovers
}

// newProgress enables the line when w is a terminal or force is set.
func newProgress(w io.Writer, force bool) *progress {
	return &progress{w: w, enabled: force || isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// update redraws the line with a bar when total is known (done of total),
// throttled unless final.
func (p *progress) update(done, total int64, final bool, format string, args ...any) {
	if !p.enabled {
		return
	}
	if !final && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	text := fmt.Sprintf(format, args...)
	if total > 0 {
		text = bar(done, total, 24) + " " + text
	}
	pad := ""
	if n := len([]rune(text)); n < p.width {
		pad = strings.Repeat(" ", p.width-n)
	}
	p.width = len([]rune(text))
	fmt.Fprintf(p.w, "\r%s%s", text, pad)
}

// finish ends the line so that the next output starts on its own.
func (p *progress) finish() {
	if p.enabled && p.width > 0 {
		fmt.Fprintln(p.w)
		p.width = 0
	}
}

// bar draws [██████░░░░░░] 42%.
func bar(done, total int64, width int) string {
	frac := min(max(float64(done)/float64(total), 0), 1)
	full := int(frac * float64(width))
	return fmt.Sprintf("[%s%s] %3.0f%%", strings.Repeat("█", full), strings.Repeat("░", width-full), frac*100)
}
