// Package coffer is the domain of Coffer, a self-hosted customer-data vault:
// its types, the interfaces its adapters implement, and its error codes.
// It imports only the standard library.
//
// # Glossary
//
//   - Subject: one customer. Owns a data-encryption key (DEK) and records.
//   - Collection: a declared set of fields; a Record is one row of it.
//   - Field: declared with a type, a classification, purposes and retention.
//   - Purpose: why data is used, with a GDPR Art. 6 legal basis.
//   - Actor: an API key or an operator, always with a role.
//
// # Invariants
//
//   - Plaintext field values exist only in memory, between the HTTP body and
//     the seal package (writes) or between the seal package and the HTTP
//     response (reads). Stores see ciphertext and blind-index hashes only.
//   - No value, token, password or key is ever placed in an error message,
//     a log line, a metric label, a URL or an audit entry. Error messages
//     name fields, never values.
//   - Every read and write, allowed or denied, produces an audit entry that is
//     durable before the caller is answered. A read whose audit entry cannot
//     be written is refused.
package coffer
