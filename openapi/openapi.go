// Package openapi embeds the OpenAPI 3.1 description of Coffer's HTTP API,
// served at /openapi.json. It is kept beside the code it describes; a test
// in internal/api checks that every route is documented.
package openapi

import _ "embed"

// Document is openapi.json.
//
//go:embed openapi.json
var Document []byte
