package rules

import (
	"fmt"
	"strings"
)

// Error is one problem in a rule file. Parse reports every problem it finds,
// joined with errors.Join, so a checker can print one line per problem;
// errors.As finds the first, and unwrapping the join gives them all.
type Error struct {
	// File is the source name given to Parse.
	File string
	// Line is 1-based; 0 when the problem is about the whole file.
	Line int
	// Rule is the name of the rule concerned, empty when none.
	Rule string
	// Msg says what is wrong, starting with the key concerned.
	Msg string
}

// Error formats as `rules.yaml:12: rule "ticket-spike": when: ...`, the
// file:line form editors and CI annotators jump to.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", e.Rule)
	}
	b.WriteString(e.Msg)
	return b.String()
}
