// Package sentiment is Riskwatch's built-in lexicon sentiment scorer. The
// scorer uses it for a mention signal that carries text but no sentiment
// value, so that a public complaint still counts as a negative mention.
//
// # How it scores
//
// Text is lower-cased and cut into words made of Unicode letters; anything
// else (digits, punctuation, emoji, symbols) separates words. Romanian
// diacritics are folded (ă, â → a; î → i; ş, ș → s; ţ, ț → t), with cedilla
// and comma-below spellings alike, so "dezamăgit" and "dezamagit" match the
// same entry. Combining marks inside a word are dropped, which folds
// decomposed Romanian letters too. An apostrophe between letters joins the
// word ("don't" → "dont"); when the joined word is not in the lexicon, the
// part after the apostrophe is tried, which handles Italian elision
// ("un'ottima" → "ottima", "l'app").
//
// Each word is looked up in one merged lexicon built from the embedded files
// lexicon/<language>.txt (English, Italian, Romanian, Polish). An entry is a
// sentiment word with a weight in [-1, 1], a negator or an intensifier:
//
//   - A negator ("not", "don't", "non", "senza", "nu", "fără", "nie",
//     "nigdy", ...) multiplies the sentiment words among the next three
//     words by -0.75. VADER found that a negated word is weaker than its
//     opposite ("not good" is less negative than "bad"), hence not -1.
//     A negator inside an active scope restarts the scope instead of
//     flipping again: Italian, Romanian and Polish use negative concord
//     ("non funziona mai", "nu merge niciodată", "nigdy nie działało"
//     are single negations).
//   - Italian "mai" and Romanian "mai" are not negators. Romanian "mai"
//     means "more"/"still" ("cel mai bun" is "the best"), and Italian
//     "mai" almost always follows "non", which already negates.
//   - An intensifier ("very", "molto", "foarte", "bardzo", ...) multiplies
//     the next sentiment word among the next three words by 1.5.
//   - A clause boundary (. , ; : ! ? or a line break) ends both scopes, so
//     "not slow, great" counts "great" as praise.
//
// The weights are summed and squashed with VADER's normalisation
// x / sqrt(x² + 15), x being the sum rescaled to VADER's ±4 word range.
// Unlike a mean, the result grows with the evidence: three complaints score
// more negative than one, a single mild word stays mild, opposite words
// cancel out, and the result never leaves (-1, 1).
//
// # Limits
//
// Only the first 4096 bytes and the first 512 words of a text are read, so
// a huge mention costs a bounded amount of work; a complaint after that is
// not seen. Score does not allocate.
//
// It is a bag of words with a small hand-written lexicon: no sarcasm or
// irony ("great, down again"), no phrases or idioms beyond single words,
// no "but" weighting, no emoji, no capitals or exclamation boost, no
// language detection (the four lexicons are merged, so a word that exists
// in several languages carries the same weight in all of them), and no
// stemming: inflected forms are listed one by one. Polish written without
// diacritics matches only the forms listed both ways. Treat the result as
// a weak signal; a sentiment sent with the mention always takes precedence.
package sentiment

import (
	"math"
	"slices"
	"unicode"
	"unicode/utf8"
)

const (
	// maxInputBytes and maxTokens bound the work done per text.
	maxInputBytes = 4096
	maxTokens     = 512

	// maxWordBytes is longer than any lexicon word, so a longer token
	// cannot match and is skipped without being copied.
	maxWordBytes = 48

	// scopeWords is how many following words a negator or an intensifier
	// reaches, as in VADER.
	scopeWords = 3

	negationFactor    = -0.75
	intensifierFactor = 1.5

	// vaderScale maps our ±1 weights onto VADER's ±4 word range, where its
	// normalisation constant alpha = 15 was tuned.
	vaderScale = 4
	vaderAlpha = 15
)

// Score returns the sentiment of text in [-1, 1] and ok=false when no
// lexicon word was found (so the caller can treat it as "unknown", not
// neutral). Only the first 4096 bytes and 512 words of text are read.
func Score(text string) (score float64, ok bool) {
	if len(text) > maxInputBytes {
		// A rune cut in half decodes as utf8.RuneError, a separator.
		text = text[:maxInputBytes]
	}
	var (
		st      state
		buf     [maxWordBytes]byte
		n       int // bytes of the current word in buf
		split   = -1
		inWord  bool
		tooLong bool
	)
	for i := 0; i < len(text); {
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(text[i:])
		}
		i += size
		switch {
		case unicode.IsLetter(r):
			r = fold(r)
			if n+utf8.RuneLen(r) > len(buf) {
				tooLong = true
			} else {
				n += utf8.EncodeRune(buf[n:], r)
			}
			inWord = true
			continue
		case inWord && unicode.Is(unicode.Mn, r):
			continue
		case inWord && isApostrophe(r) && letterAt(text, i):
			split = n
			continue
		}
		if inWord {
			st.word(buf[:n], split, tooLong)
			n, split, inWord, tooLong = 0, -1, false, false
			if st.words == maxTokens {
				break
			}
		}
		if isClauseBoundary(r) {
			st.negLeft, st.intLeft = 0, 0
		}
	}
	if inWord && st.words < maxTokens {
		st.word(buf[:n], split, tooLong)
	}
	if !st.found {
		return 0, false
	}
	x := st.sum * vaderScale
	return max(-1, min(1, x/math.Sqrt(x*x+vaderAlpha))), true
}

// Languages returns the codes of the languages whose lexicons are loaded,
// sorted, e.g. ["en" "it" "pl" "ro"].
func Languages() []string {
	return slices.Clone(active.languages)
}

// state is the running result of Score over the words seen so far.
type state struct {
	sum     float64
	found   bool
	words   int
	negLeft int // words still inside a negator's scope
	intLeft int // words still inside an intensifier's scope
}

// word applies one normalised word. split is the offset just after an
// in-word apostrophe, or -1; skip is set for words too long to match.
func (s *state) word(w []byte, split int, skip bool) {
	s.words++
	negated, intensified := s.negLeft > 0, s.intLeft > 0
	s.negLeft = max(s.negLeft-1, 0)
	s.intLeft = max(s.intLeft-1, 0)
	if skip {
		return
	}
	// string(w) in a map index does not allocate.
	e, ok := active.entries[string(w)]
	if !ok && split > 0 {
		e, ok = active.entries[string(w[split:])]
	}
	if !ok {
		return
	}
	switch e.kind {
	case kindNegator:
		s.negLeft = scopeWords
	case kindIntensifier:
		s.intLeft = scopeWords
	default:
		v := e.weight
		if intensified {
			v *= intensifierFactor
			s.intLeft = 0
		}
		if negated {
			v *= negationFactor
		}
		s.sum += v
		s.found = true
	}
}

// fold lower-cases a letter and folds Romanian diacritics, whose cedilla
// and comma-below forms are both in common use and often left out.
func fold(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	r = unicode.ToLower(r)
	switch r {
	case 'ă', 'â':
		return 'a'
	case 'î':
		return 'i'
	case 'ş', 'ș':
		return 's'
	case 'ţ', 'ț':
		return 't'
	}
	return r
}

func isApostrophe(r rune) bool {
	return r == '\'' || r == '’' || r == 'ʼ'
}

// letterAt reports whether text[i:] starts with a letter.
func letterAt(text string, i int) bool {
	if i >= len(text) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(text[i:])
	return unicode.IsLetter(r)
}

func isClauseBoundary(r rune) bool {
	switch r {
	case '.', ',', ';', ':', '!', '?', '\n', '\r', '…', '¿', '¡':
		return true
	}
	return false
}
