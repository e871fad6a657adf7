package config

import (
	"encoding/json"
	"log/slog"
)

// Secret is a string that never prints its value: String, GoString,
// MarshalText, MarshalJSON, MarshalYAML and LogValue all yield "[redacted]"
// when it is non-empty and "" when it is empty. Use Value, or a conversion
// string(s), only where the plain text is handed to the component that needs
// it (the SASL mechanism).
type Secret string

const redacted = "[redacted]"

// Value returns the plain text. Never log or wrap it into an error.
func (s Secret) Value() string { return string(s) }

func (s Secret) masked() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String implements fmt.Stringer with the redacted form.
func (s Secret) String() string { return s.masked() }

// GoString implements fmt.GoStringer (%#v) with the redacted form, quoted.
func (s Secret) GoString() string { return `"` + s.masked() + `"` }

// MarshalText implements encoding.TextMarshaler with the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.masked()), nil }

// MarshalJSON implements json.Marshaler with the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.masked()) }

// MarshalYAML implements yaml.Marshaler with the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.masked(), nil }

// LogValue implements slog.LogValuer with the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.masked()) }
