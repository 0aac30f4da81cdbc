// Package vault holds Coffer's use cases. Every data call follows one path:
// validate against the declared schema → decide access (internal/policy) →
// encrypt or decrypt under the subject's key (internal/seal) → store the
// change and its audit entry in one durable transaction → answer.
//
// The use cases are small types by concern — Records, Tokens, Privacy,
// Identity, Admin — over a shared core: the store, the clock, the schema
// and the unsealed keys. Every secret that exists only while unsealed sits
// behind one atomic pointer (unsealed.go), so Seal is one store of nil
// (after the calls in flight finish) and no key cache can be forgotten.
//
// Handlers call the vault and nothing below it; stores never decide.
package vault
