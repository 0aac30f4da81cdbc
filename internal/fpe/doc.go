// Package fpe implements format-preserving encryption on AES as specified in
// NIST SP 800-38G Rev. 1: FF1 and FF3-1 (the 56-bit-tweak revision of FF3).
//
// Both ciphers map a string of numerals in a given radix to another string of
// the same length in the same radix, so a 16-digit card number encrypts to 16
// digits. They are deterministic: the same key, tweak and input always give
// the same output, which is the point (joins, uniqueness) and the risk
// (equality leaks), so use a tweak that binds the value to its context
// (collection, field, namespace) wherever the caller has one.
//
// Limits, all checked before any work is done (a cipher call costs time
// proportional to the square of the input length, so the bounds double as a
// CPU-exhaustion guard):
//
//   - radix 2..65536; numerals are uint16 values below the radix;
//   - length at least MinLen(radix), the smallest n with radix^n >= 1,000,000
//     (SP 800-38G Rev. 1, section 5.2), else ErrDomainTooSmall;
//   - FF1: at most FF1MaxLen numerals and FF1MaxTweakLen tweak bytes (the
//     standard allows up to 2^32; these are house limits), else ErrTooLong or
//     ErrTweak;
//   - FF3-1: at most 2*floor(log_radix(2^96)) numerals (the standard's own
//     maxlen, 56 for radix 10), and a tweak of exactly 7 bytes, else ErrTooLong
//     or ErrTweak.
//
// Errors are the sentinel values of this package, returned as they are: they
// never carry the input, the tweak or the key, so an error can be logged.
//
// A cipher value holds an AES key schedule and read-only tables; it is safe
// for concurrent use.
//
// Performance: while radix^ceil(n/2) fits in 64 bits (up to 38 decimal digits
// for FF1, every length up to 38 for FF3-1 with radix 10) the rounds run on
// uint64 arithmetic; longer inputs fall back to math/big.
package fpe
