package sentiment

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type polarity int

const (
	unknown  polarity = iota // ok=false
	negative                 // ok, score < 0
	positive                 // ok, score > 0
	mixed                    // ok, |score| < 0.5
)

func (p polarity) String() string {
	return [...]string{"unknown", "negative", "positive", "mixed"}[p]
}

func assertPolarity(t *testing.T, want polarity, text string) {
	t.Helper()
	score, ok := Score(text)
	assert.GreaterOrEqual(t, score, -1.0)
	assert.LessOrEqual(t, score, 1.0)
	switch want {
	case unknown:
		assert.False(t, ok, "score %v", score)
		assert.Zero(t, score)
	case negative:
		assert.True(t, ok)
		assert.Negative(t, score)
	case positive:
		assert.True(t, ok)
		assert.Positive(t, score)
	case mixed:
		assert.True(t, ok)
		assert.Less(t, math.Abs(score), 0.5)
	}
}

func TestScoreLanguages(t *testing.T) {
	tests := []struct {
		lang string
		name string
		text string
		want polarity
	}{
		{"en", "complaint", "The app is so slow and keeps crashing, we are going to cancel.", negative},
		{"en", "churn intent", "Support ignores our tickets, switching to a competitor next month.", negative},
		{"en", "praise", "Great product, the support team was really helpful. Highly recommend!", positive},
		{"en", "negated praise", "Honestly I would not recommend it", negative},
		{"en", "negated praise curly apostrophe", "It doesn’t work anymore", negative},
		{"en", "negated complaint", "The new release is not slow at all", positive},
		{"en", "no problems", "No problems since the upgrade", positive},
		{"en", "no lexicon word", "We had a call with the account manager on Tuesday.", unknown},
		{"en", "mixed", "Love the features, but the price is expensive", mixed},

		{"it", "complaint", "L'app è lentissima e il supporto non risponde, pessimo servizio.", negative},
		{"it", "churn intent", "Voglio la disdetta e il rimborso, siete troppo costosi.", negative},
		{"it", "praise", "Ottimo servizio, assistenza veloce e gentile. Lo consiglio!", positive},
		{"it", "elided praise", "Un'ottima esperienza", positive},
		{"it", "negated praise", "Il prodotto non funziona", negative},
		{"it", "non ... mai is one negation", "Non funziona mai", negative},
		{"it", "negated complaint with concord", "Non è per niente lento", positive},
		{"it", "senza problemi", "Nessun problema, tutto perfetto e senza problemi", positive},
		{"it", "no lexicon word", "Domani abbiamo una riunione con il team commerciale.", unknown},
		{"it", "mixed", "Interfaccia bella ma l'assistenza è lenta", mixed},

		{"ro", "complaint", "Aplicația este foarte lentă și se blochează mereu, groaznic!", negative},
		{"ro", "complaint without diacritics", "Sunt dezamagit, serviciul e scump si prost", negative},
		{"ro", "cedilla spelling", "Clienţii sunt dezamăgiţi şi nemulţumiţi", negative},
		{"ro", "praise", "Echipa de suport a fost foarte amabilă, recomand cu încredere!", positive},
		{"ro", "negated praise", "Nu recomand această aplicație", negative},
		{"ro", "nu mai is one negation", "Nu mai funcționează de ieri", negative},
		{"ro", "mai is not a negator", "Cel mai bun serviciu", positive},
		{"ro", "negated complaint", "Nu e deloc scump", positive},
		{"ro", "no lexicon word", "Mâine avem o întâlnire cu echipa de vânzări.", unknown},
		{"ro", "mixed", "Produsul e bun, dar suportul e lent", mixed},

		{"pl", "complaint", "Aplikacja jest bardzo wolna i ciągle się zawiesza, masakra.", negative},
		{"pl", "churn intent", "Rezygnuję, obsługa nas olewa, przechodzimy do konkurencji.", negative},
		{"pl", "praise", "Świetna aplikacja, szybka i intuicyjna. Polecam!", positive},
		{"pl", "negated praise", "Nie polecam", negative},
		{"pl", "nic nie is one negation", "Nic nie działa", negative},
		{"pl", "nigdy nie is one negation", "Nigdy nie działało", negative},
		{"pl", "negated complaint", "Wcale nie jest drogo", positive},
		{"pl", "bez problemów", "Bez problemów od miesięcy", positive},
		{"pl", "no lexicon word", "Jutro mamy spotkanie z zespołem sprzedaży.", unknown},
		{"pl", "mixed", "Fajna aplikacja, ale wolna", mixed},
	}
	for _, tt := range tests {
		t.Run(tt.lang+"/"+tt.name, func(t *testing.T) {
			assertPolarity(t, tt.want, tt.text)
		})
	}
}

// squash is the documented aggregate, written out independently.
func squash(sum float64) float64 {
	x := 4 * sum
	return x / math.Sqrt(x*x+15)
}

func TestScoreArithmetic(t *testing.T) {
	tests := []struct {
		text string
		sum  float64
	}{
		{"slow", -0.5},
		{"very slow", -0.5 * 1.5},
		{"not slow", -0.5 * -0.75},
		{"not very slow", -0.5 * 1.5 * -0.75},
		{"very slow and broken", -0.5*1.5 - 0.7},
		{"slow broken terrible", -0.5 - 0.7 - 0.9},
		{"not slow nor broken", (-0.5 - 0.7) * -0.75},
		{"great but slow", 0.8 - 0.5},
		{"great slow", 0.8 - 0.5},
		{"lente", -0.5}, // Italian and Romanian entries merged
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			score, ok := Score(tt.text)
			require.True(t, ok)
			assert.InDelta(t, squash(tt.sum), score, 1e-12)
		})
	}
}

func TestScoreScopes(t *testing.T) {
	tests := []struct {
		name string
		text string
		want polarity
	}{
		{"negation reaches the third word", "not at all slow", positive},
		{"negation stops after three words", "not in the least slow", negative},
		{"comma ends negation", "it is not great, terrible really", negative},
		{"full stop ends negation", "No. Slow.", negative},
		{"line break ends negation", "not\nslow", negative},
		{"question mark ends negation", "why not? great", positive},
		{"negator alone is unknown", "not never nobody", unknown},
		{"intensifier alone is unknown", "very very really", unknown},
		{"elision falls back to the word after the apostrophe", "l'app è pessima", negative},
		{"contraction matches joined", "don't recommend", negative},
		{"trailing apostrophe is a separator", "un po' lento", negative},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertPolarity(t, tt.want, tt.text)
		})
	}
}

// TestBareBreakdownCrossesMentionThreshold keeps a bare "it doesn't work"
// below -0.25, the negative-mention threshold of package scorer.
func TestBareBreakdownCrossesMentionThreshold(t *testing.T) {
	for _, text := range []string{
		"doesn't work", "stopped working", "non funziona", "nu merge",
		"nu funcționează", "nie działa", "issue", "bug",
	} {
		score, ok := Score(text)
		require.True(t, ok, text)
		assert.Less(t, score, -0.25, text)
	}
}

func TestScoreIntensifierStrengthens(t *testing.T) {
	for _, pair := range [][2]string{
		{"slow", "very slow"},
		{"lento", "molto lento"},
		{"lent", "foarte lent"},
		{"wolna", "bardzo wolna"},
		{"great", "really great"},
	} {
		plain, ok := Score(pair[0])
		require.True(t, ok, pair[0])
		boosted, ok := Score(pair[1])
		require.True(t, ok, pair[1])
		assert.Greater(t, math.Abs(boosted), math.Abs(plain), pair[1])
		assert.Equal(t, math.Signbit(plain), math.Signbit(boosted), pair[1])
	}
}

func TestScoreGrowsWithEvidence(t *testing.T) {
	texts := []string{
		"slow",
		"slow and broken",
		"slow and broken, terrible support",
		"slow and broken, terrible support, worst vendor, we cancel",
	}
	prev := 0.0
	for _, text := range texts {
		score, ok := Score(text)
		require.True(t, ok, text)
		assert.Less(t, score, prev, text)
		assert.Greater(t, score, -1.0, text)
		prev = score
	}
}

func TestScoreFoldsRomanianSpellings(t *testing.T) {
	want, ok := Score("dezamăgit")
	require.True(t, ok)
	for _, text := range []string{
		"dezamagit",
		"DEZAMĂGIT",
		"Dezamăgit",
		"dezama\u0306git", // decomposed ă: a + combining breve
	} {
		got, ok := Score(text)
		assert.True(t, ok, text)
		assert.Equal(t, want, got, text)
	}

	want, ok = Score("nemulțumiți") // comma below
	require.True(t, ok)
	for _, text := range []string{"nemulţumiţi", "nemultumiti", "NEMULȚUMIȚI", "NEMULŢUMIŢI"} {
		got, ok := Score(text)
		assert.True(t, ok, text)
		assert.Equal(t, want, got, text)
	}
}

// TestLexiconCoversComplaintVocabulary pins the vocabulary a churn signal
// depends on, so that a lexicon edit cannot silently drop it.
func TestLexiconCoversComplaintVocabulary(t *testing.T) {
	negatives := []string{
		"slow", "broken", "cancel", "refund", "expensive", "bug", "outage",
		"worst", "disappointed", "switching", "competitor", "ignores",
		"pessimo", "pessima", "pessimi", "lento", "disdetta", "rimborso",
		"groaznic", "dezamăgit", "dezamagit", "lent", "scump", "anulez",
		"wolny", "wolna", "wolne", "rezygnuję", "awaria", "okropny", "drogo",
	}
	positives := []string{
		"great", "love", "fast", "helpful", "recommend",
		"ottimo", "veloce", "consigliato",
		"excelent", "recomand", "mulțumit",
		"świetny", "polecam", "pomocny",
	}
	for _, w := range negatives {
		assertPolarity(t, negative, w)
	}
	for _, w := range positives {
		assertPolarity(t, positive, w)
	}
}

func TestScoreReadsOnlyTheFirst4096Bytes(t *testing.T) {
	word := "terrible"
	atEdge := strings.Repeat(".", maxInputBytes-len(word)) + word
	_, ok := Score(atEdge)
	assert.True(t, ok, "a word ending at byte 4096 is read")

	cut := "." + atEdge
	_, ok = Score(cut)
	assert.False(t, ok, "a word cut at byte 4096 is not matched")

	_, ok = Score(strings.Repeat(" ", maxInputBytes) + word)
	assert.False(t, ok)

	// A multi-byte rune cut in half by the limit must not panic or match.
	_, ok = Score(strings.Repeat(".", maxInputBytes-1) + "ș")
	assert.False(t, ok)
}

func TestScoreReadsOnlyTheFirst512Words(t *testing.T) {
	_, ok := Score(strings.Repeat("x ", maxTokens-1) + "terrible")
	assert.True(t, ok, "word 512 is read")

	_, ok = Score(strings.Repeat("x ", maxTokens) + "terrible")
	assert.False(t, ok, "word 513 is not read")

	// A word too long to be in the lexicon still counts as a word.
	long := strings.Repeat("a", maxWordBytes+1)
	_, ok = Score(long + " " + strings.Repeat("x ", maxTokens-1) + "terrible")
	assert.False(t, ok)
	_, ok = Score(long + "terrible")
	assert.False(t, ok, "an over-long word is skipped, not truncated")
}

func TestScoreDoesNotAllocate(t *testing.T) {
	texts := []string{
		"Support ignores us and the app is so slow. We are switching to a competitor.",
		"L'app è lentissima, non funziona mai. Voglio la disdetta!",
		"Nu mai funcționează, sunt dezamăgit şi nemulţumit.",
		"Nigdy nie działało, rezygnuję. Żenada!",
		strings.Repeat("Great tool, very helpful — ", 300),
	}
	allocs := testing.AllocsPerRun(50, func() {
		for _, text := range texts {
			Score(text)
		}
	})
	assert.Zero(t, allocs)
}

func TestLanguages(t *testing.T) {
	langs := Languages()
	assert.Equal(t, []string{"en", "it", "pl", "ro"}, langs)
	langs[0] = "xx"
	assert.Equal(t, "en", Languages()[0], "Languages must return a copy")
}

func FuzzScore(f *testing.F) {
	for _, seed := range []string{
		"",
		"not slow, great",
		"Nu mai funcționează, sunt dezamăgit",
		"deza\u0306git l'app è pessima, don’t",
		"Nigdy nie działało! bardzo wolna",
		// Kept short: the fuzzer minimises every new interesting input, in
		// time quadratic in its length. The byte and word limits have
		// their own tests.
		strings.Repeat("very not ", 40) + "slow",
		"\xff\xfe' '\u0306 ș",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		score, ok := Score(text)
		if math.IsNaN(score) || score < -1 || score > 1 {
			t.Fatalf("Score(%q) = %v, outside [-1, 1]", text, score)
		}
		if !ok && score != 0 {
			t.Fatalf("Score(%q) = %v, false: unknown must be 0", text, score)
		}
		if text == "" && ok {
			t.Fatal("empty text scored ok")
		}
		// Fold lower-cases ASCII, and upper-casing ASCII keeps every byte
		// offset, so the byte and word limits cut at the same place.
		upper := []byte(text)
		for i, c := range upper {
			if 'a' <= c && c <= 'z' {
				upper[i] = c - ('a' - 'A')
			}
		}
		us, uok := Score(string(upper))
		if us != score || uok != ok {
			t.Fatalf("Score(%q) = %v, %v but Score(%q) = %v, %v", text, score, ok, upper, us, uok)
		}
	})
}

func BenchmarkScore(b *testing.B) {
	short := []string{
		"Support ignores us and the app is so slow. We are switching to a competitor.",
		"L'app è lentissima, non funziona mai. Voglio la disdetta!",
		"Nu mai funcționează, sunt dezamăgit şi nemulţumit.",
		"Nigdy nie działało, rezygnuję. Żenada!",
		"We had a call with the account manager on Tuesday.",
	}
	b.Run("short", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, text := range short {
				Score(text)
			}
		}
	})
	long := strings.Repeat("Great tool, but sometimes slow — ", 1000)
	b.Run("long", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(maxInputBytes)
		for b.Loop() {
			Score(long)
		}
	})
}
