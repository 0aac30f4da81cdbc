package fpe

import "errors"

// The errors of this package. They name the rule that was broken and nothing
// of the input, so they are safe to log and to show to a caller.
var (
	// ErrKey: the AES key is not 16, 24 or 32 bytes long.
	ErrKey = errors.New("fpe: key must be 16, 24 or 32 bytes")
	// ErrRadix: the radix is outside 2..65536.
	ErrRadix = errors.New("fpe: radix must be between 2 and 65536")
	// ErrDomainTooSmall: radix^length is below 1,000,000 (the input is too short).
	ErrDomainTooSmall = errors.New("fpe: input too short: radix^length must be at least 1,000,000")
	// ErrTooLong: the input has more numerals than the cipher accepts.
	ErrTooLong = errors.New("fpe: input too long")
	// ErrTweak: the tweak has a length the cipher does not accept.
	ErrTweak = errors.New("fpe: tweak length not accepted")
	// ErrNumeral: a numeral is not below the radix, or a character is not in the alphabet.
	ErrNumeral = errors.New("fpe: numeral outside the radix or alphabet")
	// ErrAlphabet: the alphabet is not valid UTF-8, repeats a character, or
	// does not have exactly radix characters.
	ErrAlphabet = errors.New("fpe: alphabet must have exactly radix distinct characters")
)
