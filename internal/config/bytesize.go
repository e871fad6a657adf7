package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes written in YAML as a whole number with an
// optional unit: "32MiB", "512KiB", "1MB", "4096B" or a plain integer such as
// 4096 (bytes). Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal
// units (kB/KB, MB, GB, TB) powers of 1000; units are case-sensitive and may be
// separated from the number by a space. Negative and fractional values are
// rejected.
//
// ByteSize implements encoding.TextUnmarshaler, which yaml.v3 consults only
// for scalar nodes; it is not a yaml.Unmarshaler, so strict (unknown-key)
// decoding of the surrounding structs is unaffected.
type ByteSize int64

// Size units accepted by ByteSize.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
)

var byteUnits = map[string]ByteSize{
	"":    1,
	"B":   1,
	"kB":  1000,
	"KB":  1000,
	"KiB": KiB,
	"MB":  1000 * 1000,
	"MiB": MiB,
	"GB":  1000 * 1000 * 1000,
	"GiB": GiB,
	"TB":  1000 * 1000 * 1000 * 1000,
	"TiB": TiB,
}

var errByteSizeSyntax = errors.New(`use a whole number with an optional unit (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB), such as "32MiB"`)

// ParseByteSize parses s in the format described on ByteSize. Its error
// quotes s and explains the accepted format.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q: %w", s, errByteSizeSyntax)
	}
	unit, ok := byteUnits[strings.TrimLeft(t[i:], " ")]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: %w", s, errByteSizeSyntax)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return ByteSize(n) * unit, nil
}

// UnmarshalText implements encoding.TextUnmarshaler using ParseByteSize.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText implements encoding.TextMarshaler; the output is String().
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// String formats b with the largest unit that represents it exactly,
// preferring binary units: 33554432 is "32MiB", 1000000 is "1MB", 1500 is
// "1500B". The result parses back to the same value with ParseByteSize
// (for non-negative values).
func (b ByteSize) String() string {
	if b == 0 {
		return "0B"
	}
	for _, u := range []struct {
		name string
		size ByteSize
	}{
		{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
		{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3},
	} {
		if b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}
