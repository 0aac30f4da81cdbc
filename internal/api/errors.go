package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

var statuses = map[string]int{
	coffer.EINVALID:         http.StatusBadRequest,
	coffer.EPURPOSE:         http.StatusBadRequest,
	coffer.EUNAUTHENTICATED: http.StatusUnauthorized,
	coffer.EFORBIDDEN:       http.StatusForbidden,
	coffer.ENOTFOUND:        http.StatusNotFound,
	coffer.ECONFLICT:        http.StatusConflict,
	coffer.ETOOLARGE:        http.StatusRequestEntityTooLarge,
	coffer.ESCHEMA:          http.StatusUnprocessableEntity,
	coffer.ERATELIMITED:     http.StatusTooManyRequests,
	coffer.EINTERNAL:        http.StatusInternalServerError,
	coffer.ESEALED:          http.StatusServiceUnavailable,
	coffer.EUNAVAILABLE:     http.StatusServiceUnavailable,
}

// Status returns the HTTP status of an error code.
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// writeError answers err in the shape of SPEC §5. Internal errors are
// logged with their cause and answered with a generic message, so nothing
// an internal error holds can reach the caller.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := coffer.ErrorCode(err)
	var body errorBody
	body.Error.Code = code
	body.Error.Message = coffer.ErrorMessage(err)
	body.Error.RequestID = requestID(r)
	var rl *vault.RateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
	}
	if code == coffer.EINTERNAL {
		h.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", body.Error.RequestID), slog.String("route", r.Pattern), slog.Any("err", safeErr(err)))
	}
	writeJSON(w, Status(code), body)
}

// safeErr is the error as logged: store and crypto errors carry no values
// by construction (stores see ciphertext only), but a JSON error could quote
// input, so decoding errors are never logged verbatim.
func safeErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "malformed JSON"
	}
	return err.Error()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
