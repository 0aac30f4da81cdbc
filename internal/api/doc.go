// Package api is Coffer's JSON HTTP API (/v1).
//
// routes.go holds the one route table (method, path, authentication,
// purpose, operationId, summary, handler): New registers it, a test checks
// it against openapi/openapi.json both ways, and routes.md is generated
// from it. Each resource has its own file (records.go, search.go, tokens.go,
// privacy.go, requests.go, operators.go, auth.go, apikeys.go, audit.go,
// schema.go, sys.go), its view types beside its handlers; middleware.go
// gives every request an id and authenticates; decode.go reads bodies with
// hard limits; errors.go maps coffer error codes to statuses and answers
// anything that is not a domain error as a generic 500.
//
// Handlers authenticate, decode, call the vault and encode; they never
// touch a store or a key and never decide access.
package api
