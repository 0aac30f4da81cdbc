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

// writeError answers err in the shape of SPEC §5. Only a domain error (a
// *coffer.Error with a known code other than internal) keeps its message,
// which is safe by construction. Anything else — an internal error, whatever
// its text says (a key version, a record id, a path), or an error that is
// no domain error at all — is answered 500 internal with a generic message
// naming the request id; the detail goes to the log under that id.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := coffer.ErrorCode(err)
	var body errorBody
	body.Error.Code = code
	body.Error.Message = coffer.ErrorMessage(err)
	body.Error.RequestID = requestID(r)
	if _, known := statuses[code]; !known || code == coffer.EINTERNAL {
		h.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", body.Error.RequestID), slog.String("route", r.Pattern), slog.String("err", safeErr(err)))
		body.Error.Code = coffer.EINTERNAL
		body.Error.Message = "internal error (request id " + body.Error.RequestID + "; the server log has the detail)"
	}
	if body.Error.Code == coffer.EUNAVAILABLE {
		// The database cannot be reached (or the audit log stopped
		// writes): try again shortly; the node recovers by itself.
		w.Header().Set("Retry-After", "1")
	}
	var rl *vault.RateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
	}
	writeJSON(w, Status(body.Error.Code), body)
}

// safeErr is the error as logged: store and crypto errors carry no values
// by construction (stores see ciphertext only), but a JSON error could quote
// input, so decoding errors are never logged verbatim.
func safeErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
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
