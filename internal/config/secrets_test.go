package config

import (
	"strings"
	"testing"
)

// #11 item 18: an error about a secret names the key, never any part of
// the value, not even the name of a variable it refers to.
func TestSecretExpandErrorsNameOnlyTheKey(t *testing.T) {
	for _, value := range []string{
		`"Sup3r${SecretPart}x"`,      // unset variable
		`"Sup3r${Secret-Part}x"`,     // invalid reference
		`"Sup3r${SecretPart"`,        // unterminated
		`"Sup3r${SecretPart:-}x${Z"`, // fine, then unterminated
	} {
		t.Run(value, func(t *testing.T) {
			y := doc("", "tls: {enabled: true}\nsasl: {mechanism: scram-sha-512, username: u, password: "+value+"}", "")
			_, err := Parse("agent.yaml", []byte(y))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "kafka.sasl.password: ") {
				t.Errorf("error does not name the key: %v", err)
			}
			for _, part := range []string{"Sup3r", "Secret", "Part"} {
				if strings.Contains(err.Error(), part) {
					t.Errorf("error leaks %q of the secret: %v", part, err)
				}
			}
		})
	}
}
