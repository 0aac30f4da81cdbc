// Package token makes and checks the token formats of the token vault. It
// is pure: no storage, no keys of its own, no I/O beyond the random source it
// is handed.
//
// Formats:
//
//   - random: Prefix ("tok_") followed by 22 base62 characters drawn
//     uniformly from crypto/rand: 22*log2(62) ≈ 131 bits.
//   - card: digits only, the length of the card number, keeping its last 4
//     digits and, on request, its first 6 or 8 (the BIN). The digits between
//     are random and the token always FAILS the Luhn check, so a token can
//     never be taken for a card number, and never equals the card it stands
//     for (which passes it). Each token is drawn uniformly among the digit
//     strings of that shape that fail the check. At least MinRandomDigits
//     digits must be random, which refuses keeping the BIN of the shortest
//     cards (a 12-digit card with a 6-digit BIN would leave 2).
//
// With few random digits, card tokens collide: a 16-digit card with an
// 8-digit BIN has 9,000 possible tokens per BIN and last four. The vault
// must keep tokens unique (draw again on a clash for random tokens, refuse
// or fall back for deterministic ones).
//
// Deterministic variants derive the random digits or characters from
// HMAC-SHA256 under a 32-byte key, over a namespace and the value, so the same
// value in the same namespace gives the same token and another namespace or
// key gives an unrelated one. The key is the only secret: without it a token
// reveals nothing about the middle digits.
//
// Errors are the package's sentinel values and never include the card
// number or any part of it.
package token
