package kafkatest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (process
// reapers, connections, kafka-go transports).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
