package api

import (
	"net/http"

	"github.com/cofferhq/coffer/internal/vault"
)

// handlerFunc serves one route. c is the authenticated call, nil on a
// public route. A returned error is answered in the shape of SPEC §5.
type handlerFunc func(h *Handler, w http.ResponseWriter, r *http.Request, c *vault.Call) error

// route is one API call. The table below is the one list of them: New
// registers it, the OpenAPI test compares it with openapi/openapi.json and
// routes.md is generated from it.
type route struct {
	Method, Path string
	// Auth: the call needs a bearer token (an API key or an operator
	// session). Public calls get no vault.Call.
	Auth bool
	// Purpose: the call acts on personal data and reads Coffer-Purpose
	// (SPEC §3); the vault's decision refuses it without one.
	Purpose     bool
	OperationID string
	Summary     string
	serve       handlerFunc
}

// Pattern is the route's net/http pattern ("GET /v1/health"), which is
// also its metrics label.
func (rt route) Pattern() string { return rt.Method + " " + rt.Path }

const (
	public  = false
	authed  = true
	purpose = true
)

var routes = []route{
	// System (sys.go)
	{"GET", "/v1/health", public, false, "getHealth", "Liveness and seal state", (*Handler).health},
	{"GET", "/v1/ready", public, false, "getReady", "Readiness: 200 only when the vault is unsealed and its database answers (503 sealed or unavailable, with Retry-After)", (*Handler).ready},
	{"POST", "/v1/sys/unseal", public, false, "unseal", "Give one unseal input: the passphrase or one share", (*Handler).unseal},
	{"POST", "/v1/sys/seal", authed, false, "seal", "Wait for calls in flight, then drop every key (admin)", (*Handler).seal},
	{"GET", "/openapi.json", public, false, "getOpenAPI", "This document", (*Handler).openAPI},
	{"GET", "/metrics", authed, false, "getMetrics", "Prometheus metrics, labelled by route pattern and status code only (a role with the metrics grant)", (*Handler).metricsPage},
	{"GET", "/privacy", public, false, "getPrivacyNotice", "The public privacy notice (HTML)", (*Handler).privacyNotice},

	// Keys (keys.go)
	{"GET", "/v1/sys/keys", authed, false, "getKeyStatus", "KEK versions and the keys each wraps (admin)", (*Handler).keyStatus},
	{"POST", "/v1/sys/keys/rotate", authed, false, "rotateKeys", "Add a KEK version and re-wrap every key in the background (admin)", (*Handler).rotateKeys},
	{"POST", "/v1/sys/keys/export", authed, false, "exportKey", "A KEK version encrypted to an age recipient (admin)", (*Handler).exportKey},
	{"POST", "/v1/sys/keys/retire", authed, false, "retireKey", "Remove a KEK version nothing is wrapped under (admin)", (*Handler).retireKey},

	// Schema (schema.go)
	{"GET", "/v1/schema", authed, false, "getSchema", "The schema document (admin)", (*Handler).getSchema},
	{"PUT", "/v1/schema", authed, false, "replaceSchema", "Replace the schema (admin)", (*Handler).putSchema},

	// Records (records.go, search.go)
	{"POST", "/v1/collections/{c}/records", authed, purpose, "createRecord", "Create a record", (*Handler).createRecord},
	{"POST", "/v1/collections/{c}/records/batch", authed, purpose, "createRecords", "Create up to 1000 records, all or nothing", (*Handler).createBatch},
	{"GET", "/v1/collections/{c}/records/{id}", authed, purpose, "getRecord", "Read a record in the caller's views", (*Handler).getRecord},
	{"PATCH", "/v1/collections/{c}/records/{id}", authed, purpose, "updateRecord", "Change fields (null removes a field)", (*Handler).patchRecord},
	{"DELETE", "/v1/collections/{c}/records/{id}", authed, purpose, "deleteRecord", "Delete a record", (*Handler).deleteRecord},
	{"POST", "/v1/collections/{c}/search", authed, purpose, "searchRecords", "Exact-match search on searchable fields", (*Handler).search},

	// Tokens and FPE (tokens.go)
	{"POST", "/v1/tokens", authed, false, "tokenize", "Tokenize up to 1,000 values in a namespace", (*Handler).tokenize},
	{"POST", "/v1/tokens/detokenize", authed, purpose, "detokenize", "Detokenize up to 1,000 tokens", (*Handler).detokenize},
	{"DELETE", "/v1/tokens/{t}", authed, false, "revokeToken", "Revoke a token", (*Handler).revokeToken},
	{"POST", "/v1/fpe/encrypt", authed, false, "fpeEncrypt", "Format-preserving encryption (FF1, FF3-1)", (*Handler).fpeEncrypt},
	{"POST", "/v1/fpe/decrypt", authed, purpose, "fpeDecrypt", "Format-preserving decryption (FF1, FF3-1)", (*Handler).fpeDecrypt},

	// Subjects: consents, restriction; retention (privacy.go)
	{"GET", "/v1/subjects/{s}", authed, true, "getSubject", "A subject's records in the caller's views, consents and restriction", (*Handler).getSubject},
	{"GET", "/v1/subjects/{s}/consents", authed, false, "getConsents", "A subject's current consents and history (admin)", (*Handler).getConsents},
	{"PUT", "/v1/subjects/{s}/consents/{purpose}", authed, false, "setConsent", "Grant or withdraw a consent", (*Handler).putConsent},
	{"PUT", "/v1/subjects/{s}/restriction", authed, false, "setRestriction", "Restrict a subject's processing or lift it", (*Handler).putRestriction},
	{"POST", "/v1/retention/sweep", authed, false, "sweepRetention", "Run the retention sweep now (admin)", (*Handler).sweep},

	// Data-subject requests (requests.go)
	{"POST", "/v1/requests", authed, false, "createRequest", "Record a data-subject request", (*Handler).createRequest},
	{"GET", "/v1/requests", authed, false, "listRequests", "List requests, newest first", (*Handler).listRequests},
	{"GET", "/v1/requests/{id}", authed, false, "getRequest", "One request", (*Handler).getRequest},
	{"POST", "/v1/requests/{id}/{action}", authed, false, "actOnRequest", "Move a request: verify, start, complete, extend, deny", (*Handler).actOnRequest},
	{"GET", "/v1/requests/{id}/export", authed, purpose, "exportRequest", "The subject's data (JSON, or CSV in a zip)", (*Handler).exportRequest},

	// Operators (operators.go)
	{"POST", "/v1/operators", authed, false, "createOperator", "Create an operator (admin): a single-use enrollment link", (*Handler).createOperator},
	{"POST", "/v1/enroll", public, false, "enroll", "Enrollment: set the password, get the TOTP seed (the enrollment token is the credential)", (*Handler).enroll},
	{"POST", "/v1/enroll/confirm", public, false, "confirmEnrollment", "Enrollment: confirm a TOTP code; the operator is active", (*Handler).confirmEnrollment},
	{"GET", "/v1/operators", authed, false, "listOperators", "List operators (admin)", (*Handler).listOperators},
	{"POST", "/v1/operators/{u}/lock", authed, false, "lockOperator", "Lock an operator and end its sessions (admin)", (*Handler).lockOperator},
	{"POST", "/v1/operators/{u}/unlock", authed, false, "unlockOperator", "Unlock an operator (admin)", (*Handler).unlockOperator},
	{"POST", "/v1/operators/{u}/acknowledge-policy", authed, false, "acknowledgeSecurityPolicy", "Acknowledge the current security policy", (*Handler).acknowledgePolicy},
	{"POST", "/v1/operators/{u}/training", authed, false, "recordOperatorTraining", "Record a completed security training (admin)", (*Handler).recordTraining},
	{"GET", "/v1/security-policy", authed, false, "getSecurityPolicy", "The current security policy", (*Handler).securityPolicy},

	// Sessions (auth.go)
	{"POST", "/v1/auth/login", public, false, "login", "Log in with password and TOTP code", (*Handler).login},
	{"POST", "/v1/auth/logout", authed, false, "logout", "End the calling operator's session", (*Handler).logout},
	{"POST", "/v1/auth/webauthn/register/begin", authed, false, "beginWebAuthnRegistration", "Begin registering a security key", (*Handler).webauthnRegisterBegin},
	{"POST", "/v1/auth/webauthn/register/finish", authed, false, "finishWebAuthnRegistration", "Finish registering a security key", (*Handler).webauthnRegisterFinish},
	{"POST", "/v1/auth/webauthn/login/begin", public, false, "beginWebAuthnLogin", "Check the password and answer WebAuthn options", (*Handler).webauthnLoginBegin},
	{"POST", "/v1/auth/webauthn/login/finish", public, false, "finishWebAuthnLogin", "Verify the assertion and open a session", (*Handler).webauthnLoginFinish},

	// API keys (apikeys.go)
	{"POST", "/v1/api-keys", authed, false, "createAPIKey", "Create an API key (admin); shown once", (*Handler).createKey},
	{"GET", "/v1/api-keys", authed, false, "listAPIKeys", "List API keys (admin)", (*Handler).listKeys},
	{"DELETE", "/v1/api-keys/{id}", authed, false, "revokeAPIKey", "Revoke an API key (admin)", (*Handler).revokeKey},

	// Audit (audit.go)
	{"GET", "/v1/audit", authed, false, "listAuditEntries", "Audit entries, newest first (admin)", (*Handler).listAudit},
	{"POST", "/v1/audit/verify", authed, false, "verifyAudit", "Verify the hash chain and the signed head (admin)", (*Handler).verifyAudit},

	// Backups and the erasure ledger (backups.go)
	{"POST", "/v1/backups", authed, false, "createBackup", "Stream an encrypted backup of the whole store (admin)", (*Handler).createBackup},
	{"GET", "/v1/backups", authed, false, "listBackups", "Scheduled backups in their target, newest first (admin)", (*Handler).listBackups},
	{"POST", "/v1/backups/{name}/verifications", authed, false, "recordBackupVerification", "Record the result of a restore drill of a scheduled backup (admin; coffer backup verify --report)", (*Handler).recordBackupVerification},
	{"GET", "/v1/ledger", authed, false, "getErasureLedger", "The erasure ledger: keyed hashes a restore replays (admin)", (*Handler).getLedger},
}
