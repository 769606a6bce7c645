package book_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pure packages (docs/architecture.md) import no NATS and nothing of
// the runtime: the scoring core is replayable and testable without a
// server.
func TestThePureCoreImportsNoRuntime(t *testing.T) {
	pure := []string{"signals", "rules", "scorer", "alerting", "binrec", "book", "api", "backtest", "fit",
		"internal/replay", "internal/ruletest", "internal/sim", "churn", "hooks", "push"}
	for _, p := range pure {
		out, err := exec.Command("go", "list", "-deps", "github.com/riskwatch/riskwatch/"+p).Output()
		require.NoError(t, err, p)
		for _, dep := range strings.Fields(string(out)) {
			assert.False(t, strings.HasPrefix(dep, "github.com/nats-io/"), "%s imports %s", p, dep)
			for _, runtime := range []string{"internal/engine", "internal/ingest", "internal/outbox",
				"internal/statelog", "internal/daemon", "internal/demo", "internal/apiserver"} {
				assert.NotEqual(t, "github.com/riskwatch/riskwatch/"+runtime, dep, "%s imports the runtime", p)
			}
		}
	}
}
