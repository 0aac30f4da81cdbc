package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
)

// decode reads a JSON request body into dst: at most maxBody bytes, valid
// UTF-8, exactly one JSON value, no unknown fields. Errors name the field
// or the position, never the input.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	return DecodeJSON(body, dst)
}

func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, coffer.Errorf(coffer.ETOOLARGE, "request body larger than %d bytes", h.maxBody)
	}
	if err != nil {
		return nil, coffer.Errorf(coffer.EINVALID, "could not read the request body")
	}
	return body, nil
}

// DecodeJSON decodes one JSON document into dst with the rules of decode.
// It is exported for fuzzing.
func DecodeJSON(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return coffer.Errorf(coffer.EINVALID, "request body is empty")
	}
	if !utf8.Valid(body) {
		return coffer.Errorf(coffer.EINVALID, "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return coffer.Errorf(coffer.EINVALID, "request body holds more than one JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return coffer.Errorf(coffer.EINVALID, "malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		field := "request body"
		if te.Field != "" {
			field = coffer.Name(te.Field)
		}
		// te.Value quotes a number ("number 4539578763621486.5"): only
		// its kind is named.
		return coffer.Errorf(coffer.EINVALID, "%s: must be %s, not %s", field, kind(te.Type.Kind().String()), jsonKind(te.Value))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return coffer.Errorf(coffer.EINVALID, "malformed JSON: unexpected end of the body")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return coffer.Errorf(coffer.EINVALID, "unknown field %s", coffer.Name(name))
	}
	return coffer.Errorf(coffer.EINVALID, "malformed JSON")
}

func kind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	}
	return fmt.Sprintf("a %s", k)
}

// jsonKind names the kind of the JSON value an UnmarshalTypeError
// describes, dropping the literal it may carry.
func jsonKind(value string) string {
	k, _, _ := strings.Cut(value, " ")
	switch k {
	case "string", "number", "bool", "array", "object":
		return k
	}
	return "another kind of value"
}
