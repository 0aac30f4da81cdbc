// Package audit is the tamper-evident audit log: the canonical encoding and
// SHA-256 hash chain of entries, the signed head that detects truncation,
// and the verification that names the first bad sequence number.
//
// Each entry's hash covers every field of the entry and the previous
// entry's hash, so editing, deleting or reordering any entry breaks the
// chain at that entry. Deleting entries at the end keeps the chain intact,
// so the store also keeps a head (last seq and hash) signed with Ed25519
// after every commit; verification requires the chain to end at the head.
package audit
