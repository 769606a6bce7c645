package sentiment_test

import (
	"fmt"

	"github.com/riskwatch/riskwatch/scorer/sentiment"
)

func ExampleScore() {
	for _, text := range []string{
		"Support ignores us and the app is slow. We are switching to a competitor.",
		"Great tool, the team is very helpful!",
		"Nu mai funcționează, sunt dezamăgit.",
		"Not bad at all",
		"See you at the quarterly review.",
	} {
		score, ok := sentiment.Score(text)
		fmt.Printf("%+.2f %v\n", score, ok)
	}
	// Output:
	// -0.90 true
	// +0.89 true
	// -0.72 true
	// +0.42 true
	// +0.00 false
}
