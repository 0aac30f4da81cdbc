package schema

import (
	"strings"
	"unicode"
)

// Sensitive authentication data (PCI DSS 4.0.1 req. 3.3.1) must never be
// stored after authorization. A schema cannot declare a field (or type)
// whose name says it holds one. Names are compared as words: split at
// separators and camelCase humps, lower-cased, so "CardVerificationCode",
// "card-verification-code" and "card_verification_code" are one name.
var (
	// sadWords are refused wherever they stand as a word of the name.
	sadWords = map[string]bool{
		"cvv": true, "cvc": true, "cvv2": true, "cvc2": true, "cvn": true, "cvn2": true,
		"csc": true, "cav2": true, "cid2": true, "pin": true, "pinblock": true,
		"magstripe": true, "track1": true, "track2": true,
	}
	// sadPhrases are refused wherever they appear in the words run together.
	sadPhrases = []string{
		"securitycode", "verificationvalue", "cardverification", "cardcode",
		"pinblock", "magstripe", "magneticstripe", "trackdata", "track1", "track2",
	}
	// sadNames are refused only as the whole name ("cid" is too short a
	// word to refuse inside other names).
	sadNames = map[string]bool{"cid": true}
)

// sensitiveAuthName reports whether name reads as card security code, track
// data or PIN.
func sensitiveAuthName(name string) bool {
	words := nameWords(name)
	joined := strings.Join(words, "")
	if sadNames[joined] {
		return true
	}
	for _, w := range words {
		if sadWords[w] {
			return true
		}
	}
	for _, p := range sadPhrases {
		if strings.Contains(joined, p) {
			return true
		}
	}
	return false
}

// nameWords splits name at anything not a letter or digit and at camelCase
// boundaries ("PINBlock" → pin, block), lower-cased.
func nameWords(name string) []string {
	var words []string
	var cur []rune
	rs := []rune(name)
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
			continue
		case unicode.IsUpper(r) && i > 0:
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	return words
}
