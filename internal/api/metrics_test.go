package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer/internal/vault"
)

// TestMetricsNeedTheGrant (issue 15.7): /metrics answers 401 without a
// token and 403 to a role without the metrics grant (admin included); a
// key of the monitoring role reads them.
func TestMetricsNeedTheGrant(t *testing.T) {
	v, admin := newVault(t)
	_, scraper, err := v.Identity.CreateAPIKey(context.Background(), vault.SystemCall(), vault.NewAPIKey{Name: "scraper", Role: "monitoring"})
	if err != nil {
		t.Fatal(err)
	}
	h := New(v, Config{Metrics: prometheus.NewRegistry()})
	for _, tc := range []struct {
		token string
		want  int
	}{{"", 401}, {"coffer_bogus_x", 401}, {admin, 403}, {scraper, 200}} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("token %.12q: %d, want %d: %.200s", tc.token, rec.Code, tc.want, rec.Body)
		}
		if tc.want == http.StatusOK && !strings.Contains(rec.Body.String(), "coffer_http_requests_total") {
			t.Errorf("the scraper's metrics lack the request counter: %.300s", rec.Body)
		}
	}
}
