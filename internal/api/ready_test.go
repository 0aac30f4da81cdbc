package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestReadyAndRetryAfter: /v1/ready follows the store (503 unavailable
// with Retry-After while the database cannot be reached) while
// /v1/health stays a liveness probe that answers 200.
func TestReadyAndRetryAfter(t *testing.T) {
	h := New(nil, Config{})
	h.sealed = func() bool { return false }
	var down error
	h.readyFn = func(context.Context) error { return down }
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	if rec := get("/v1/ready"); rec.Code != 200 {
		t.Errorf("ready with the database up: %d %s", rec.Code, rec.Body)
	}
	down = &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the database cannot be reached: retry later", Err: errors.New("dial tcp: connection refused")}
	rec := get("/v1/ready")
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"code":"unavailable"`) {
		t.Errorf("ready with the database down: %d Retry-After=%q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if strings.Contains(rec.Body.String(), "dial tcp") {
		t.Errorf("the driver's error reached the answer: %s", rec.Body)
	}
	if rec := get("/v1/health"); rec.Code != 200 {
		t.Errorf("health (liveness) with the database down: %d", rec.Code)
	}
}
