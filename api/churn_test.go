package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/churn"
)

func TestChurnRequestConfig(t *testing.T) {
	cfg, err := ChurnRequest{}.Config()
	require.NoError(t, err)
	assert.Equal(t, churn.Config{By: churn.Month}, cfg, "by month over everything by default")

	cfg, err = ChurnRequest{By: "quarter", From: "2026-01-01", To: "2026-06-30"}.Config()
	require.NoError(t, err)
	assert.Equal(t, churn.Config{By: churn.Quarter, From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		To: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)}, cfg)

	for _, req := range []ChurnRequest{{By: "week"}, {From: "2026-1-1"}, {To: "tomorrow"},
		{From: "2026-02-01", To: "2026-01-01"}} {
		_, err := req.Config()
		require.Error(t, err, "%+v", req)
		assert.Equal(t, http.StatusBadRequest, StatusOf(err), "%+v", req)
	}
}
