// Package vault holds Coffer's use cases. Every data call follows one path:
// validate against the declared schema → decide access (internal/policy) →
// encrypt or decrypt under the subject's key (internal/seal) → store the
// change and its audit entry in one durable transaction → answer.
//
// Handlers call the vault and nothing below it; stores never decide.
package vault
