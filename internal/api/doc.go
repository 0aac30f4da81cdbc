// Package api is Coffer's JSON HTTP API (/v1): one route table, request
// decoding with hard limits, and the mapping of coffer error codes to HTTP
// statuses. Handlers authenticate, decode, call the vault and encode; they
// never touch a store or a key and never decide access.
package api
