// Package pii finds personal data in text. Detectors are pure functions over
// bytes: no I/O, no globals that change, no allocation on the common path.
//
// Speed comes from one pass over the input with a byte-class table: lower-case
// words are skipped whole, and a detector runs only where its trigger byte
// stands at a word boundary ('@' for e-mail, a digit for numbers, an upper-case
// letter for IBANs and names, ':' for IPv6, '+' or '(' for phones). No regular
// expression runs on the input. Expensive checks (libphonenumber) run only on
// candidates that passed the cheap shape tests.
//
// A Match holds offsets into the input, never a copy of the value: callers
// that report a finding mask it with Mask, and nothing in this package prints
// a value.
package pii
