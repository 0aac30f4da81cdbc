// Package identity holds the credential primitives for operators (people):
// password rules of NIST SP 800-63B-4, argon2id hashing with a bound on
// concurrent hashes, and TOTP (RFC 6238) with replay protection.
//
// The password blocklist (blocklist.txt.gz, 49,233 entries) is the common
// password list of zxcvbn (Dropbox, passwords ordered by frequency in
// leaked-password corpora), as packaged by @zxcvbn-ts/language-common
// 4.1.3 under the MIT license (LICENSE-zxcvbn), lower-cased and deduplicated.
package identity
