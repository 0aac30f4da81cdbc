package schema

import (
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestSensitiveAuthName holds PCI DSS 4.0.1 req. 3.3.1: a field (or type)
// whose name says it holds a card security code, track data or a PIN is
// refused, whatever the case or separators; ordinary names pass.
func TestSensitiveAuthName(t *testing.T) {
	refused := []string{
		"cvv", "cvc", "cvv2", "cvc2", "cid", "cvn", "csc", "cav2",
		"card_cvv", "cvv_code", "card_verification_code", "card_verification_value",
		"verification_value", "card_code", "security_code", "card_security_code",
		"CardVerificationCode", "card-verification-code", "Card.Security.Code",
		"pin", "card_pin", "pin_block", "pinblock", "PINBlock",
		"track1", "track2", "track_data", "track1_data", "magstripe", "mag_stripe",
		"magnetic_stripe", "magstripe_data",
	}
	for _, n := range refused {
		if !sensitiveAuthName(n) {
			t.Errorf("sensitiveAuthName(%q) = false, want true", n)
		}
	}
	allowed := []string{
		"email", "name", "card_number", "cardholder", "pincode_region", "spinner",
		"discount_code", "verification_sent", "security_question", "track_number",
		"customer_id", "cide", "pinned", "shipping_code", "postcode",
	}
	for _, n := range allowed {
		if sensitiveAuthName(n) {
			t.Errorf("sensitiveAuthName(%q) = true, want false", n)
		}
	}
}

// TestParseRefusesSensitiveAuthFields: the names the security review found
// accepted are refused by Parse with the PCI DSS reason.
func TestParseRefusesSensitiveAuthFields(t *testing.T) {
	base := "purposes:\n  account: {legal_basis: contract}\ncollections:\n  customers:\n    fields:\n"
	for _, n := range []string{"card_verification_code", "cvn", "csc", "pinblock", "magstripe", "card_code", "verification_value"} {
		_, err := Parse("x.yaml", []byte(base+"      "+n+": {type: string, classification: payment, purposes: [account]}\n"))
		if err == nil || !strings.Contains(coffer.ErrorMessage(err), "PCI DSS 4.0.1 req. 3.3.1") {
			t.Errorf("field %s: err = %v, want the PCI DSS 3.3.1 refusal", n, err)
		}
	}
}
