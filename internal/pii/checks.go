package pii

// Luhn reports whether the ASCII digits in d pass the Luhn checksum.
func Luhn(d []byte) bool {
	if len(d) < 2 {
		return false
	}
	sum, double := 0, false
	for j := len(d) - 1; j >= 0; j-- {
		c := d[j]
		if c < '0' || c > '9' {
			return false
		}
		v := int(c - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}

// issuer ranges: a prefix range on the first digits and the lengths the
// issuer uses (ISO/IEC 7812 IIN ranges as published by the networks).
var issuers = []struct {
	name       string
	digits     int // how many leading digits lo and hi cover
	lo, hi     int
	minL, maxL int
}{
	{"visa", 1, 4, 4, 13, 19},
	{"mastercard", 2, 51, 55, 16, 16},
	{"mastercard", 4, 2221, 2720, 16, 16},
	{"amex", 2, 34, 34, 15, 15},
	{"amex", 2, 37, 37, 15, 15},
	{"discover", 4, 6011, 6011, 16, 19},
	{"discover", 3, 644, 649, 16, 19},
	{"discover", 2, 65, 65, 16, 19},
	{"discover", 6, 622126, 622925, 16, 19},
	{"diners", 3, 300, 305, 14, 19},
	{"diners", 2, 36, 36, 14, 19},
	{"diners", 2, 38, 39, 16, 19},
	{"jcb", 4, 3528, 3589, 16, 19},
	{"unionpay", 2, 62, 62, 16, 19},
	{"maestro", 4, 5018, 5018, 12, 19},
	{"maestro", 4, 5020, 5020, 12, 19},
	{"maestro", 4, 5038, 5038, 12, 19},
	{"maestro", 4, 5893, 5893, 12, 19},
	{"maestro", 4, 6304, 6304, 12, 19},
	{"maestro", 4, 6759, 6759, 12, 19},
	{"maestro", 4, 6761, 6763, 12, 19},
	{"mir", 4, 2200, 2204, 16, 19},
}

// Issuer names the card network whose prefix and length d (ASCII digits)
// fits, or "".
func Issuer(d []byte) string {
	for _, is := range issuers {
		if len(d) < is.minL || len(d) > is.maxL || len(d) < is.digits {
			continue
		}
		p := 0
		for _, c := range d[:is.digits] {
			p = p*10 + int(c-'0')
		}
		if p >= is.lo && p <= is.hi {
			return is.name
		}
	}
	return ""
}

// ValidSSN reports whether the nine ASCII digits in s can be a US Social
// Security number: area not 000, 666 or 900–999; group not 00; serial not
// 0000; and not one of the numbers printed in advertising and samples.
func ValidSSN(s string) bool {
	if len(s) != 9 {
		return false
	}
	for j := 0; j < 9; j++ {
		if s[j] < '0' || s[j] > '9' {
			return false
		}
	}
	area, group, serial := s[:3], s[3:5], s[5:]
	if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
		return false
	}
	switch s {
	case "078051120", "219099999", "123456789", "111111111", "333333333":
		return false
	}
	// The SSA reserved 987-65-4320 to 987-65-4329 for advertising; the 9xx
	// rule already excludes them.
	return true
}
