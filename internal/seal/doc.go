// Package seal is Coffer's envelope encryption.
//
// Key hierarchy: a versioned root key (KEK, AES-256) wraps one random
// AES-256 data key (DEK) per subject with AES-256-GCM under the AAD
// "coffer/dek/v1|<subject>|<kek version>", so a wrapped DEK copied to
// another subject or relabelled with another version fails to open.
//
// Each field value is sealed under its subject's DEK with AES-256-GCM and a
// random 96-bit nonce; the AAD binds it to collection, record and field
// (each length-prefixed), so a ciphertext moved to another record or field
// fails to decrypt. Ciphertext layout: version byte (1) || nonce || sealed.
// Random nonces are safe here because one DEK seals only one subject's
// values: far fewer than the 2^32 messages per key that random 96-bit
// nonces allow.
//
// Blind indexes for exact-match search are HMAC-SHA256 of the normalized
// value under a key derived with HKDF-SHA256 from a dedicated index root key,
// per collection and field, truncated to 16 bytes.
package seal
