package coffer_test

import (
	"testing"

	"github.com/cofferhq/coffer"
)

func TestNameEchoesOnlyIdentifiers(t *testing.T) {
	for s, echoed := range map[string]bool{
		"email": true, "payment_methods": true, "customers.card_number": true, "sale-v2": true, "tls13": true,
		"4111-1111-1111-1111": false, "4111111111111111": false, "123-45-6789": false, "x123456789": false,
		"jane doe": false, "jane@example.com": false, "+4930123456": false, "": false, "_x": false,
		"a23456789012345678901234567890123456789012345678901234567890abcdef": false,
	} {
		got := coffer.Name(s)
		if (got == `"`+s+`"`) != echoed {
			t.Errorf("Name(%q) = %s", s, got)
		}
	}
}
